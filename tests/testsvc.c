/*
 * testsvc.c - a test-only daemon for exercising master
 *
 * Not installed. master.cf arguments after the program name select a mode:
 *   echo [TAG]      single-connection server (TAG shows in the greeting): PING -> "PONG pid",
 * WHOAMI -> "uid=U euid=E gid=G egid=H groups=..", SLEEP n, QUIT, anything else echoed back crash
 * exits with status 1 during start-up (throttling tests) crashif FILE    like echo, but exits with
 * status 1 during start-up while FILE exists triggers FILE   event-loop server: appends every
 * trigger byte to FILE The reply to PING carries the process id so tests can count processes and
 * see max_use recycling.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "server.h"
#include "stream.h"
#include "trigger.h"

static const char *mode = "echo";
static const char *trigger_file;
static const char *tag = "";

static void pre_init(int argc, char **argv)
{
    if (argc > 0)
        mode = argv[0];
    if (strcmp(mode, "echo") == 0 && argc > 1)
        tag = argv[1];
    if (strcmp(mode, "crash") == 0)
        log_fatal("test service: crashing at start-up as asked");
    if (strcmp(mode, "crashif") == 0) {
        if (argc < 2)
            log_fatal("crashif mode needs a file name");
        if (access(argv[1], F_OK) == 0)
            log_fatal("test service: crashing at start-up as asked (%s exists)", argv[1]);
    }
    if (strcmp(mode, "triggers") == 0) {
        if (argc < 2)
            log_fatal("triggers mode needs a file name");
        trigger_file = argv[1];
    }
}

static void whoami(struct stream *s)
{
    gid_t groups[64];
    int n = getgroups(64, groups);

    stream_printf(s, "uid=%ld euid=%ld gid=%ld egid=%ld groups=", (long)getuid(), (long)geteuid(),
                  (long)getgid(), (long)getegid());
    for (int i = 0; i < n; i++)
        stream_printf(s, "%s%ld", i ? "," : "", (long)groups[i]);
    stream_puts(s, "\r\n");
}

static void serve(struct server_conn *c)
{
    struct stream *s = stream_new(c->fd, c->wfd, 30);
    struct str line = STR_INIT;
    int r;

    stream_printf(s, "HELLO %ld %s%s%s\r\n", (long)getpid(), server_service(), *tag ? " " : "",
                  tag);
    stream_flush(s);
    while ((r = stream_getline(s, &line, 1000)) == STREAM_OK || r == STREAM_TOOLONG) {
        if (r == STREAM_TOOLONG) {
            stream_puts(s, "ERR line too long\r\n");
            stream_flush(s);
            continue;
        }
        str_chomp(&line);
        if (strcmp(str_c(&line), "PING") == 0)
            stream_printf(s, "PONG %ld\r\n", (long)getpid());
        else if (strcmp(str_c(&line), "WHOAMI") == 0)
            whoami(s);
        else if (strncmp(str_c(&line), "SLEEP ", 6) == 0) {
            sleep((unsigned)atoi(str_c(&line) + 6));
            stream_puts(s, "OK\r\n");
        } else if (strcmp(str_c(&line), "QUIT") == 0) {
            stream_puts(s, "BYE\r\n");
            stream_flush(s);
            break;
        } else
            stream_printf(s, "%s\r\n", str_c(&line));
        if (stream_flush(s) != STREAM_OK)
            break;
    }
    str_free(&line);
    stream_free(s, 0);
}

static void on_trigger(int byte, void *ctx)
{
    int fd = open(trigger_file, O_WRONLY | O_APPEND | O_CREAT, 0644);
    char b = (char)byte;

    if (fd >= 0) {
        if (write(fd, &b, 1) != 1)
            log_warn("write %s: %s", trigger_file, strerror(errno));
        close(fd);
    }
}

static void run(struct evloop *ev, const int *fds, int nfds)
{
    for (int i = 0; i < nfds; i++)
        trigger_server(ev, fds[i], on_trigger, NULL);
    server_set_busy(1);
}

int main(int argc, char **argv)
{
    struct server_def def = {"testsvc", 0, pre_init, NULL, serve, NULL, NULL, NULL};

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "triggers") == 0)
            def.event_loop = 1, def.run = run;
    return server_main(argc, argv, &def);
}
