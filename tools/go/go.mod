module gcheap/tools/go

go 1.19
