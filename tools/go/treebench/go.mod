module treebench

go 1.19
