/* syscall_probe: the attacker and probe programs of the runtime's security tests. Built
 * static by the tests (`cc -static`), so it runs in a rootfs without libc.
 *   syscall_probe 64   NR [ARG0]   x86_64 `syscall`, prints "errno=N" (0 on success)
 *   syscall_probe x32  NR [ARG0]   the same with the x32 bit (0x40000000) set
 *   syscall_probe i386 NR [ARG0]   32-bit `int $0x80` (IA32 emulation)
 *   syscall_probe ptrace-watch STOP LOG
 *       until STOP exists: PTRACE_SEIZE (ATTACH's access check) to every other process
 *       that appears; logs
 *       "attached PID EXE" for each success (then detaches) and a final
 *       "done attempts=N refused=N attached=N" (CVE-2016-9962)
 *   syscall_probe ids
 *       prints "uid=R euid=E" (installed setuid root by the no-new-privileges test)
 *   syscall_probe swap STOP A B
 *       until STOP exists: renameat2(A, B, RENAME_EXCHANGE) in a loop (CVE-2021-30465) */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int ptrace_watch(const char *stop, const char *log_path) {
    static unsigned char done[1 << 22];
    long attempts = 0, refused = 0, attached = 0;
    FILE *log = fopen(log_path, "w");
    if (!log) return 1;
    while (access(stop, F_OK) != 0) {
        DIR *dir = opendir("/proc");
        if (!dir) return 1;
        struct dirent *e;
        while ((e = readdir(dir))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == getpid() || pid >= (1 << 22) || done[pid]) continue;
            attempts++;
            /* SEIZE has ATTACH's permission check but sends no SIGSTOP, which a detach
             * after an exec's SIGTRAP stop would leave pending, stopping the process. */
            if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
                int status;
                ptrace(PTRACE_INTERRUPT, pid, 0, 0);
                if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status)) {
                    /* It exited before it could be looked at while stopped. */
                    done[pid] = 1;
                    continue;
                }
                char path[64], exe[512] = {0};
                snprintf(path, sizeof path, "/proc/%d/exe", pid);
                if (readlink(path, exe, sizeof exe - 1) < 0) strcpy(exe, "?");
                fprintf(log, "attached %d %s\n", pid, exe);
                fflush(log);
                ptrace(PTRACE_DETACH, pid, 0, 0);
                done[pid] = 1;
                attached++;
            } else if (errno == EPERM) {
                refused++;
            }
        }
        closedir(dir);
    }
    fprintf(log, "done attempts=%ld refused=%ld attached=%ld\n", attempts, refused, attached);
    fclose(log);
    return 0;
}

static int swap(const char *stop, const char *a, const char *b) {
    long n = 0;
    while ((n++ & 1023) || access(stop, F_OK) != 0) {
        syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
    }
    return 0;
}

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
    if (argc == 2 && strcmp(argv[1], "ids") == 0) {
        printf("uid=%d euid=%d\n", (int)getuid(), (int)geteuid());
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "ptrace-watch") == 0) return ptrace_watch(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "swap") == 0) return swap(argv[2], argv[3], argv[4]);
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
