/* Starts a program the way runc starts a Kubernetes container process with runAsUser, capabilities
 * `drop: [ALL]` plus `add: CAPS`, and allowPrivilegeEscalation: false: bounding = permitted = effective = CAPS,
 * inheritable and ambient empty, the uid/gid changed with the permitted set kept, no_new_privs, then exec.
 *   runc_like_exec UID CAPS(comma list of cap numbers, or "none") PROGRAM ARGS...
 * Used by test_container_image.py to check the Containerfile's file capability against the kernel's rules. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: runc_like_exec UID CAPS PROGRAM ARGS...\n"); return 2; }
    uid_t uid = (uid_t)atoi(argv[1]);
    unsigned long long keep = 0;
    if (strcmp(argv[2], "none") != 0) {
        for (char *c = strtok(argv[2], ","); c; c = strtok(NULL, ",")) keep |= 1ULL << atoi(c);
    }
    for (int cap = 0; cap <= 63; cap++) {
        if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) { perror("PR_CAPBSET_DROP"); return 3; }
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) { perror("PR_SET_KEEPCAPS"); return 3; }
    if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) { perror("setuid"); return 3; }
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].permitted = data[0].effective = (unsigned)(keep & 0xffffffffu);
    data[1].permitted = data[1].effective = (unsigned)(keep >> 32);
    if (syscall(SYS_capset, &header, data) != 0) { perror("capset"); return 3; }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("PR_SET_NO_NEW_PRIVS"); return 3; }
    execv(argv[3], argv + 3);
    fprintf(stderr, "exec failed: %s\n", strerror(errno));
    return 126;
}
