/* syscall_probe: issues one raw system call and prints "errno=N" (0 on success), so that
 * tests can check what a seccomp filter answers for a given ABI and number.
 *   syscall_probe 64   NR [ARG0]   x86_64 `syscall`
 *   syscall_probe x32  NR [ARG0]   x86_64 `syscall` with the x32 bit (0x40000000) set
 *   syscall_probe i386 NR [ARG0]   32-bit `int $0x80` (IA32 emulation)
 * Built static by the tests (`cc -static`), so it runs in a rootfs without libc. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long raw64(long nr, long a0) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(0L), "d"(0L)
                     : "rcx", "r11", "memory");
    return ret;
}

static long raw32(long nr, long a0) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a0), "c"(0L), "d"(0L)
                     : "memory");
    /* The kernel returns a 32-bit value in eax. */
    return (long)(int)ret;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: syscall_probe 64|x32|i386 NR [ARG0]\n");
        return 2;
    }
    long nr = strtol(argv[2], NULL, 0);
    long a0 = argc > 3 ? strtol(argv[3], NULL, 0) : 0;
    long ret;
    if (strcmp(argv[1], "64") == 0) {
        ret = raw64(nr, a0);
    } else if (strcmp(argv[1], "x32") == 0) {
        ret = raw64(nr | 0x40000000L, a0);
    } else if (strcmp(argv[1], "i386") == 0) {
        ret = raw32(nr, a0);
    } else {
        return 2;
    }
    printf("errno=%ld\n", ret < 0 && ret > -4096 ? -ret : 0);
    return 0;
}
