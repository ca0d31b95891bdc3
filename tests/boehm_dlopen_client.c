/* boehm_dlopen_client: a shared library that boehm_dlopen_test loads with
 * dlopen after GC_init. Its one global (in .bss) holds the only reference
 * to a GC object across a collection. */
void* boehm_dlopen_client_slot;

void** boehm_dlopen_client_slot_address(void) {
  return &boehm_dlopen_client_slot;
}
