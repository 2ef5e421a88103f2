/*
 * Binds the executable's imports from glibc to symbol versions that glibc 2.31 already has, so that one binary,
 * linked on any newer build host, runs in every container with glibc >= 2.31 (docs/glibc.md).
 *
 * The native-AOT runtime's objects ask for plain names (pthread_create, dlopen, ...). The linker binds a plain name to
 * the default version in the build host's libc: on glibc >= 2.34 that is GLIBC_2.34 for everything that moved from
 * libpthread and libdl into libc, which an older loader refuses. Native/Glibc.targets links with
 * --wrap=NAME for each name listed there, so those references land on __wrap_NAME below, which jumps to
 * NAME@VERSION: the same function on a new glibc (the old version is kept there as an alias for old binaries), the
 * original in libpthread.so.0 / libdl.so.2 on an old one (the link adds both as NEEDED).
 *
 * Compiled by Native/Glibc.targets with the compiler the native-AOT link uses; the list of names comes from there
 * (glibc-pins.h, generated next to this object).
 */

#include <stddef.h>

/* __wrap_NAME: a jump to NAME@VERSION. A jump, not a call, so it needs no prototype: arguments and the return value
 * pass through untouched. Hidden, so nothing outside the executable can see it. */
#define PIN(name, version)                                                     \
    __asm__(".pushsection .text\n"                                             \
            ".globl __wrap_" #name "\n"                                        \
            ".hidden __wrap_" #name "\n"                                       \
            ".type __wrap_" #name ", @function\n"                              \
            ".symver metagpu_pinned_" #name ", " #name "@" version "\n"        \
            "__wrap_" #name ":\n"                                              \
            "\tjmp metagpu_pinned_" #name "@PLT\n"                             \
            ".size __wrap_" #name ", .-__wrap_" #name "\n"                     \
            ".popsection\n");

#include "glibc-pins.h"

/*
 * __libc_start_main needs more than a new version: the start code (Scrt1.o) of glibc >= 2.34 passes init = NULL and
 * leaves running the executable's constructors to __libc_start_main@GLIBC_2.34, which finds them through the dynamic
 * section. The GLIBC_2.2.5 entry of glibc 2.31 runs only what init points to (old start code passed
 * __libc_csu_init), so with NULL the constructors (the runtime's and any C++ static initialisers) would silently
 * never run. This wrapper passes an init that does what __libc_csu_init did for a dynamic executable: _init, then
 * .init_array in order (.preinit_array is run by the dynamic loader itself, on both). glibc >= 2.34 takes an init it
 * is given instead of its own walk, never in addition, so they run exactly once everywhere. Start code from a build
 * host older than 2.34 passes its own __libc_csu_init, which is kept.
 */
typedef int (*main_function)(int, char **, char **);
typedef void (*init_function)(int, char **, char **);

extern int metagpu_pinned___libc_start_main(main_function main, int argc, char **argv, init_function init,
                                            void (*fini)(void), void (*rtld_fini)(void), void *stack_end);
__asm__(".symver metagpu_pinned___libc_start_main, __libc_start_main@GLIBC_2.2.5");

/* Provided by the linker (the .init_array bounds) and by crti.o (_init, the .init section). */
extern init_function __init_array_start[] __attribute__((visibility("hidden")));
extern init_function __init_array_end[] __attribute__((visibility("hidden")));
extern void _init(void) __attribute__((visibility("hidden")));

static void run_constructors(int argc, char **argv, char **envp)
{
    _init();
    for (init_function *f = __init_array_start; f < __init_array_end; f++)
        (*f)(argc, argv, envp);
}

__attribute__((visibility("hidden"))) int __wrap___libc_start_main(main_function main, int argc, char **argv,
                                                                   init_function init, void (*fini)(void),
                                                                   void (*rtld_fini)(void), void *stack_end)
{
    return metagpu_pinned___libc_start_main(main, argc, argv, init != NULL ? init : run_constructors, fini,
                                            rtld_fini, stack_end);
}
