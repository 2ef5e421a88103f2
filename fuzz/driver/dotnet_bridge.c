// libFuzzer <-> .NET bridge for SharpFuzz's Fuzzer.LibFuzzer.Run (libFuzzer mode).
//
// libFuzzer runs in this process; the fuzz target runs in a .NET child process started once. They talk the
// protocol SharpFuzz's managed side expects:
//   - environment: __LIBFUZZER_SHM_ID (a System V shared memory id), __LIBFUZZER_CONTROL_PIPE_ID and
//     __LIBFUZZER_STATUS_PIPE_ID (file descriptor numbers, as decimal text);
//   - the shared memory holds a 64 KiB edge-coverage map (what SharpFuzz's instrumentation increments),
//     followed by the input bytes (at most 1 MiB);
//   - the child writes one 32-bit status when it is ready; then, per input, we write the input's length as a
//     32-bit integer on the control pipe and the child answers one 32-bit status (0: fine, else: an exception
//     escaped the target, already printed on stderr).
// After each input the map is copied into a __libfuzzer_extra_counters section, which libFuzzer reads as
// coverage. A non-zero status or a dead child is turned into abort(), so libFuzzer saves the input (crash-*);
// a hang is libFuzzer's own -timeout, after which the child is killed with us (PR_SET_PDEATHSIG); on a normal
// exit it is asked to stop first.
//
// Build: clang -O2 -fsanitize=fuzzer dotnet_bridge.c -o dotnet-bridge
// Run:   dotnet-bridge [libFuzzer flags] --target_path=EXE [--target_arg=ARG ...] [CORPUS_DIR ...]
//        (libFuzzer ignores flags that start with "--", so ours pass through it untouched)

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

enum
{
    COVERAGE_BYTES = 64 * 1024,
    MAX_INPUT_BYTES = 1024 * 1024,
    CHILD_CONTROL_FD = 198, // the child reads input lengths here
    CHILD_STATUS_FD = 199,  // and writes statuses here
    MAX_TARGET_ARGS = 32,
};

// libFuzzer adds these counters to its coverage; they mirror the child's map after every input.
__attribute__((used, section("__libfuzzer_extra_counters"))) uint8_t managed_edges[COVERAGE_BYTES];

static const char *exe_path;
static const char *exe_args[MAX_TARGET_ARGS + 2];
static int exe_arg_count;

static uint8_t *shared;
static int to_child = -1;
static int from_child = -1;
static pid_t child = -1;

static void fail(const char *what)
{
    fprintf(stderr, "dotnet-bridge: %s\n", what);
    exit(1);
}

static void fail_errno(const char *what)
{
    fprintf(stderr, "dotnet-bridge: %s: %s\n", what, strerror(errno));
    exit(1);
}

// The value of "--name=value", or NULL when arg is another flag.
static const char *flag_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || arg[n] != '=' || arg[n + 1] == '\0')
        return NULL;
    return arg + n + 1;
}

static void read_flags(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
    {
        const char *v;
        if ((v = flag_value(argv[i], "--target_path")) != NULL)
            exe_path = v;
        else if ((v = flag_value(argv[i], "--target_arg")) != NULL)
        {
            if (exe_arg_count == MAX_TARGET_ARGS)
                fail("too many --target_arg flags");
            exe_args[1 + exe_arg_count++] = v;
        }
    }
    if (exe_path == NULL)
        fail("no .NET program given: pass --target_path=PATH (and --target_arg=ARG for each of its arguments)");
    exe_args[0] = exe_path;
    exe_args[1 + exe_arg_count] = NULL;
}

// Reads or writes exactly 4 bytes; returns 1 on success, 0 on end of file, -1 on error (errno set).
static int transfer4(int fd, void *word, int writing)
{
    size_t done = 0;
    while (done < 4)
    {
        ssize_t n = writing ? write(fd, (char *)word + done, 4 - done) : read(fd, (char *)word + done, 4 - done);
        if (n < 0 && errno == EINTR)
            continue; // libFuzzer's timer signal
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        done += (size_t)n;
    }
    return 1;
}

// The child is gone: say how it ended, then abort so libFuzzer keeps the input that did it.
static void child_died(void)
{
    int status = 0;
    pid_t pid = waitpid(child, &status, 0);
    if (pid == child && WIFSIGNALED(status))
        fprintf(stderr, "dotnet-bridge: the .NET process was killed by signal %d (%s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (pid == child && WIFEXITED(status))
        fprintf(stderr, "dotnet-bridge: the .NET process exited with code %d\n", WEXITSTATUS(status));
    else
        fprintf(stderr, "dotnet-bridge: the .NET process went away\n");
    abort();
}

// On a normal exit (time or runs used up), end the child's loop by closing its control pipe, so it leaves
// cleanly (its exit handlers remove its scratch files); kill it if it does not within 2 s.
static void stop_child(void)
{
    if (child <= 0)
        return;
    close(to_child);
    for (int i = 0; i < 200; i++)
    {
        if (waitpid(child, NULL, WNOHANG) == child)
            return;
        usleep(10 * 1000);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

static void start_child(int segment)
{
    int control[2], status[2];
    if (pipe(control) != 0 || pipe(status) != 0)
        fail_errno("pipe");

    pid_t parent = getpid();
    child = fork();
    if (child < 0)
        fail_errno("fork");
    if (child == 0)
    {
        // Die with the fuzzer, also when it leaves through _exit after a timeout.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        if (dup2(control[0], CHILD_CONTROL_FD) < 0 || dup2(status[1], CHILD_STATUS_FD) < 0)
        {
            fprintf(stderr, "dotnet-bridge: dup2: %s\n", strerror(errno));
            _exit(1);
        }
        close(control[0]);
        close(control[1]);
        close(status[0]);
        close(status[1]);
        char text[16];
        snprintf(text, sizeof text, "%d", segment);
        setenv("__LIBFUZZER_SHM_ID", text, 1);
        snprintf(text, sizeof text, "%d", CHILD_CONTROL_FD);
        setenv("__LIBFUZZER_CONTROL_PIPE_ID", text, 1);
        snprintf(text, sizeof text, "%d", CHILD_STATUS_FD);
        setenv("__LIBFUZZER_STATUS_PIPE_ID", text, 1);
        execvp(exe_path, (char *const *)exe_args);
        fprintf(stderr, "dotnet-bridge: cannot run %s: %s\n", exe_path, strerror(errno));
        _exit(127);
    }
    close(control[0]);
    close(status[1]);
    to_child = control[1];
    from_child = status[0];
    atexit(stop_child);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    read_flags(*argc, *argv);
    // A write to a dead child must come back as EPIPE (reported as a crash), not kill us silently.
    signal(SIGPIPE, SIG_IGN);

    int segment = shmget(IPC_PRIVATE, COVERAGE_BYTES + MAX_INPUT_BYTES, IPC_CREAT | IPC_EXCL | 0600);
    if (segment < 0)
        fail_errno("shmget");
    shared = shmat(segment, NULL, 0);
    if (shared == (void *)-1)
    {
        shmctl(segment, IPC_RMID, NULL);
        fail_errno("shmat");
    }

    start_child(segment);

    uint32_t ready;
    int r = transfer4(from_child, &ready, 0);
    // The child attaches before it says it is ready, so the segment can be marked for removal now: the kernel
    // frees it when both processes are gone, however they end.
    shmctl(segment, IPC_RMID, NULL);
    if (r != 1)
    {
        fprintf(stderr, "dotnet-bridge: %s did not start the SharpFuzz libFuzzer loop (Fuzzer.LibFuzzer.Run)\n", exe_path);
        child_died();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT_BYTES)
        fail("an input is larger than 1 MiB: run with -max_len=1048576 or less");

    memset(shared, 0, COVERAGE_BYTES);
    memcpy(shared + COVERAGE_BYTES, data, size);

    uint32_t length = (uint32_t)size;
    if (transfer4(to_child, &length, 1) != 1)
        child_died();
    uint32_t status;
    if (transfer4(from_child, &status, 0) != 1)
        child_died();

    memcpy(managed_edges, shared, COVERAGE_BYTES);
    if (status != 0)
    {
        fprintf(stderr, "dotnet-bridge: the fuzz target threw (the exception is printed above)\n");
        abort();
    }
    return 0;
}
