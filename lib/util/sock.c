/*
 * sock.c - socket helpers: listeners, connects with deadlines, peer names
 *
 * Listeners are close-on-exec and non-blocking (master hands them to its
 * children explicitly). Connects are non-blocking with a poll deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proc.h"
#include "sock.h"

/* sock_wait - poll one fd for events (POLLIN/POLLOUT) until timeout ms; 1 ready, 0 timeout,
 * -1 error */
static int sock_wait(int fd, int events, int timeout_ms)
{
    struct pollfd p;
    int r;

    p.fd = fd;
    p.events = (short)events;
    p.revents = 0;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r > 0 && (p.revents & (POLLERR | POLLNVAL)) && !(p.revents & events))
        return -1;
    return r;
}

/* unix_addr - the address of a UNIX-domain socket at path; -1 when it is too long */
static int unix_addr(const char *path, struct sockaddr_un *sun, struct str *err)
{
    if (strlen(path) >= sizeof(sun->sun_path)) {
        str_printf(err, "socket path too long: %s", path);
        return -1;
    }
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, strlen(path));
    return 0;
}

int sock_listen_unix(const char *path, int backlog, struct str *err)
{
    mode_t mask = umask(0);

    umask(mask);
    return sock_listen_unix_mode(path, backlog, 0777 & ~mask, err);
}

int sock_listen_unix_mode(const char *path, int backlog, mode_t mode, struct str *err)
{
    struct sockaddr_un sun;
    mode_t old_mask;
    int fd, r;

    if (unix_addr(path, &sun, err) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        str_printf(err, "socket: %s", strerror(errno));
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        str_printf(err, "unlink %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    old_mask = umask(~mode & 0777);
    r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_mask);
    if (r < 0 || listen(fd, backlog) < 0) {
        str_printf(err, "bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* listen_on - socket, options, bind and listen for one address */
static int listen_on(const struct sockaddr *sa, socklen_t len, int v6only, int backlog,
                     struct str *err)
{
    int on = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    char text[SOCK_ADDR_MAX];
    int port;

    if (fd < 0) {
        str_printf(err, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
        sock_addr_text(sa, text, sizeof(text), &port);
        str_printf(err, "bind %s port %d: %s", text, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sock_listen_inet(const char *host, int port, int family, int backlog, struct str *err)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    int fd, rc;

    if (host == NULL || *host == '\0') {
        struct sockaddr_in6 s6;
        struct sockaddr_in s4;
        if (family != AF_INET) {
            memset(&s6, 0, sizeof(s6));
            s6.sin6_family = AF_INET6;
            s6.sin6_addr = in6addr_any;
            s6.sin6_port = htons((unsigned short)port);
            fd = listen_on((struct sockaddr *)&s6, sizeof(s6), family == AF_INET6, backlog, err);
            if (fd >= 0 || family == AF_INET6)
                return fd;
            str_reset(err); /* no IPv6 here: fall back to IPv4 */
        }
        memset(&s4, 0, sizeof(s4));
        s4.sin_family = AF_INET;
        s4.sin_addr.s_addr = htonl(INADDR_ANY);
        s4.sin_port = htons((unsigned short)port);
        return listen_on((struct sockaddr *)&s4, sizeof(s4), 0, backlog, err);
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
        str_printf(err, "bad listen address %s: %s", host, gai_strerror(rc));
        return -1;
    }
    fd = listen_on(res->ai_addr, res->ai_addrlen, 1, backlog, err);
    freeaddrinfo(res);
    return fd;
}

/* finish_connect - wait for a non-blocking connect to complete */
static int finish_connect(int fd, int timeout, struct str *err)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    int r = sock_wait(fd, POLLOUT, timeout * 1000);

    if (r == 0) {
        str_printf(err, "connection timed out");
        return -1;
    }
    if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) {
        str_printf(err, "%s", strerror(errno));
        return -1;
    }
    if (soerr) {
        str_printf(err, "%s", strerror(soerr));
        return -1;
    }
    return 0;
}

int sock_connect_addr(const struct sockaddr *sa, socklen_t len, int timeout, struct str *err)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0) {
        str_printf(err, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, sa, len) < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            str_printf(err, "%s", strerror(errno));
            close(fd);
            return -1;
        }
        if (finish_connect(fd, timeout, err) < 0) {
            close(fd);
            return -1;
        }
    }
    proc_nonblock(fd, 0);
    return fd;
}

int sock_connect_unix(const char *path, int timeout, struct str *err)
{
    struct sockaddr_un sun;
    int fd;

    if (unix_addr(path, &sun, err) < 0)
        return -1;
    fd = sock_connect_addr((struct sockaddr *)&sun, sizeof(sun), timeout, err);
    if (fd < 0) {
        struct str e = STR_INIT;
        str_printf(&e, "connect to %s: %s", path, str_c(err));
        str_cpy(err, str_c(&e));
        str_free(&e);
    }
    return fd;
}

void sock_addr_text(const struct sockaddr *sa, char *buf, size_t len, int *port)
{
    buf[0] = '\0';
    if (port)
        *port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)len);
        if (port)
            *port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, (socklen_t)len);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)len);
        if (port)
            *port = ntohs(s6->sin6_port);
    }
}

void sock_peer(int fd, char *buf, size_t len, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    buf[0] = '\0';
    if (port)
        *port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        sock_addr_text((struct sockaddr *)&ss, buf, len, port);
}

void sock_local(int fd, char *buf, size_t len, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    buf[0] = '\0';
    if (port)
        *port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        sock_addr_text((struct sockaddr *)&ss, buf, len, port);
}
