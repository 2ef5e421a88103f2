/*
 * A library for StartupPagesTests: pages of a loaded object that hold this process's own data and must survive
 * StartupPages.Release. `state.counter` is in the writable segment and written at run time; `relocated_slot` sits in
 * the code segment and holds the counter's address, which only the dynamic loader knows, so the loader writes it
 * there at load time (a text relocation: DT_TEXTREL, and the page becomes this process's private copy); `patched`
 * is read-only data that patch_constant writes after making its page writable for a moment, as CoreCLR does to a page
 * of libcoreclr.so's read-only segment. Each lies a page or more inside its segment, where Release would reach it if
 * it did not leave such pages alone. The text relocation is built in only with WITH_TEXT_RELOCATION: an object
 * with one is built and loaded beside one without.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
struct state
{
    char before[8192];
    int counter;
    char after[8192];
};

struct state state = {{1}, 1, {1}};

#ifdef WITH_TEXT_RELOCATION
__asm__(".section .text\n"
        ".balign 4096\n"
        ".fill 4096, 1, 0xcc\n"
        ".globl relocated_slot\n"
        ".type relocated_slot, %object\n"
        "relocated_slot: .quad state + 8192\n"
        ".size relocated_slot, 8\n"
        ".fill 8192, 1, 0xcc\n"
        ".previous\n");

extern void *const relocated_slot;

void *slot_value(void) { return relocated_slot; }
#endif

void set_counter(int value) { state.counter = value; }
int get_counter(void) { return state.counter; }
void *counter_address(void) { return &state.counter; }

struct constants
{
    char before[8192];
    int value;
    char after[8192];
};

static const struct constants patched = {{1}, 7, {1}};

int patch_constant(int value)
{
    long page = sysconf(_SC_PAGESIZE);
    void *start = (void *)((uintptr_t)&patched.value & ~(uintptr_t)(page - 1));
    if (mprotect(start, (size_t)page, PROT_READ | PROT_WRITE) != 0)
        return -1;
    *(volatile int *)&patched.value = value;
    return mprotect(start, (size_t)page, PROT_READ);
}

int constant_value(void) { return *(const volatile int *)&patched.value; }
