/* The workload the container tests run inside real OCI containers (runc). Built with gcc -static, so the rootfs
 * needs nothing else. Everything it prints is one "name: value" line (the allocation file between begin/end lines),
 * and it ends with "ready" once it is in its final state, then waits for a signal.
 *
 *   workload sleep                  report and wait
 *   workload fork N                 report, start N children that wait too (a container with several processes);
 *                                   prints "exited: PID signal S" (or "code C") when one ends
 *   workload forge ROOT TEXT [DEST] report, then the attack of issue item 2: become root of an own user namespace,
 *                                   mount a tmpfs, create ROOT (an absolute path, e.g. the host's path of a real
 *                                   allocation file) inside it with TEXT, and bind-mount it over DEST
 *                                   (default /etc/metagpu/allocation.json). Exits 42 when the kernel refuses.
 *   workload forge ROOT TEXT DEST -- CMD ARGS...
 *                                   the same, then run CMD in the forged namespaces and print "exec-exit: N"
 *   workload run CMD ARGS...        no report: run CMD, then print "run-exit: N" and "run-us: T" (its wall time in
 *                                   microseconds, fork to exit) and exit (for runc exec: timing mgctl inside) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ALLOCATION "/etc/metagpu/allocation.json"
#define FORGE_REFUSED 42

extern char **environ;

static void on_term(int sig) { _exit(128 + sig); }

static void print_file(const char *name, const char *path)
{
    char buf[65536];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: missing (%s)\n", name, strerror(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = 0;
    printf("%s-begin\n%s\n%s-end\n", name, buf, name);
}

static void report(void)
{
    printf("pid: %d\n", (int)getpid());
    printf("uid: %d\n", (int)geteuid());
    for (char **e = environ; *e; e++)
        printf("env: %s\n", *e);
    print_file("allocation", ALLOCATION);
    int fd = open(ALLOCATION, O_WRONLY);
    if (fd < 0)
        printf("allocation-write: refused (%s)\n", strerror(errno));
    else {
        printf("allocation-write: allowed\n");
        close(fd);
    }
    fflush(stdout);
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t want = (ssize_t)strlen(text), n = write(fd, text, (size_t)want);
    close(fd);
    return n == want ? 0 : -1;
}

static int refuse(const char *step)
{
    printf("forge-refused: %s: %s\n", step, strerror(errno));
    fflush(stdout);
    return FORGE_REFUSED;
}

/* mkdir -p of every parent of path (which lies under base). */
static int make_parents(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

static int forge(const char *root, const char *text, const char *dest)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    char map[64];
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return refuse("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
    if (write_text("/proc/self/setgroups", "deny") != 0)
        return refuse("write /proc/self/setgroups");
    snprintf(map, sizeof map, "0 %d 1", (int)uid);
    if (write_text("/proc/self/uid_map", map) != 0)
        return refuse("write /proc/self/uid_map");
    snprintf(map, sizeof map, "0 %d 1", (int)gid);
    if (write_text("/proc/self/gid_map", map) != 0)
        return refuse("write /proc/self/gid_map");
    /* Keep the new mounts to this namespace (and see the container's own mounts as they are). */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return refuse("mount --make-rprivate /");
    if (mount("forge", "/tmp", "tmpfs", 0, "size=64k") != 0)
        return refuse("mount tmpfs on /tmp");
    char file[4096];
    if (snprintf(file, sizeof file, "/tmp%s", root) >= (int)sizeof file || root[0] != '/')
        return refuse("ROOT must be an absolute path");
    if (make_parents(file) != 0)
        return refuse("mkdir in the tmpfs");
    if (write_text(file, text) != 0)
        return refuse("write the look-alike file");
    if (mount(file, dest, NULL, MS_BIND, NULL) != 0)
        return refuse("bind-mount the look-alike file");
    printf("forged: %s\n", dest);
    print_file("forged-allocation", dest);
    return 0;
}

/* Runs argv[0..] to its end; its exit code (128 + signal when killed), or -1 when it cannot start. */
static int run(char **command, long *micros)
{
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        execv(command[0], command);
        printf("exec-failed: %s: %s\n", command[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    if (micros)
        *micros = (end.tv_sec - start.tv_sec) * 1000000L + (end.tv_nsec - start.tv_nsec) / 1000;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "sleep";
    if (strcmp(mode, "run") == 0) {
        if (argc < 3) {
            printf("usage: workload run CMD ARGS...\n");
            return 2;
        }
        long micros = 0;
        int code = run(argv + 2, &micros);
        printf("run-exit: %d\nrun-us: %ld\n", code, micros);
        return 0;
    }
    report();
    if (strcmp(mode, "fork") == 0) {
        int n = argc > 2 ? atoi(argv[2]) : 1;
        for (int i = 0; i < n; i++) {
            pid_t child = fork();
            if (child < 0) {
                printf("fork-failed: %s\n", strerror(errno));
                return 1;
            }
            if (child == 0) {
                for (;;)
                    pause();
            }
            printf("child: %d\n", (int)child);
        }
    } else if (strcmp(mode, "forge") == 0) {
        if (argc < 4) {
            printf("usage: workload forge ROOT TEXT [DEST]\n");
            return 2;
        }
        int rc = forge(argv[2], argv[3], argc > 4 ? argv[4] : ALLOCATION);
        if (rc != 0)
            return rc;
        if (argc > 6 && strcmp(argv[5], "--") == 0)
            printf("exec-exit: %d\n", run(argv + 6, NULL));
    } else if (strcmp(mode, "sleep") != 0) {
        printf("unknown mode: %s\n", mode);
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    /* As a container's init, reap the children (a killed one is then gone from /proc, not a zombie) and say so. */
    for (;;) {
        int status;
        pid_t gone = wait(&status);
        if (gone < 0) {
            pause();
            continue;
        }
        if (WIFSIGNALED(status))
            printf("exited: %d signal %d\n", (int)gone, WTERMSIG(status));
        else
            printf("exited: %d code %d\n", (int)gone, WEXITSTATUS(status));
        fflush(stdout);
    }
}
