/*
 * A caller of the control socket that can hand its connection to another process.
 *
 *   relay CONTROL_SOCKET RELAY_SOCKET stay|orphan
 *
 * Connects to CONTROL_SOCKET (so the kernel records this process as the peer), then listens on RELAY_SOCKET and
 * forks. The child accepts one client on RELAY_SOCKET and copies bytes both ways between it and the control
 * connection until either side closes. The parent prints "connected PID" (its own pid: the peer the daemon sees),
 * then with "stay" waits until stdin closes, and with "orphan" exits at once, leaving the connection to its child:
 * a caller whose process is gone, whose connection lives on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int unix_socket(const char *path, int listening) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) { fprintf(stderr, "path too long\n"); exit(2); }
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("socket"); exit(2); }
    if (listening) {
        unlink(path);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0) { perror("bind"); exit(2); }
    } else if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect"); exit(2);
    }
    return fd;
}

static int copy(int from, int to) {
    char buffer[65536];
    ssize_t n = read(from, buffer, sizeof buffer);
    if (n <= 0) return 0;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buffer + off, (size_t)(n - off));
        if (w <= 0) return 0;
        off += w;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[3], "stay") != 0 && strcmp(argv[3], "orphan") != 0)) {
        fprintf(stderr, "usage: relay CONTROL_SOCKET RELAY_SOCKET stay|orphan\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int control = unix_socket(argv[1], 0);
    int listener = unix_socket(argv[2], 1);
    pid_t child = fork();
    if (child < 0) { perror("fork"); return 2; }
    if (child > 0) {
        printf("connected %d\n", (int)getpid());
        fflush(stdout);
        if (strcmp(argv[3], "orphan") == 0) return 0;
        char c;
        while (read(0, &c, 1) > 0) {}
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
        return 0;
    }
    int client = accept(listener, NULL, NULL);
    if (client < 0) { perror("accept"); return 2; }
    struct pollfd fds[2] = {{.fd = client, .events = POLLIN}, {.fd = control, .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) { if (errno == EINTR) continue; return 2; }
        if ((fds[0].revents & (POLLIN | POLLHUP)) && !copy(client, control)) return 0;
        if ((fds[1].revents & (POLLIN | POLLHUP)) && !copy(control, client)) return 0;
    }
}
