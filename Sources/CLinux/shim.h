#ifndef TOLLGATE_CLINUX_SHIM_H
#define TOLLGATE_CLINUX_SHIM_H

// Linux system calls that Swift's Glibc module leaves out. Nothing to link: they are in libc.

#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

// accept4 is declared only under _GNU_SOURCE, which the Glibc module does not define. One call sets
// O_NONBLOCK and FD_CLOEXEC instead of accept plus three fcntl calls per connection.
static inline int tg_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return (int)syscall(SYS_accept4, fd, address, length, flags);
}

#endif
