#include "ident.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IDENT_FILE "identity"

static int valid_uuid(const char *s, size_t len)
{
    if (len != IDENT_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

/* Version 4 (random) UUID; the CSPRNG because the identity must not collide across hosts. */
static int new_uuid(char *out, struct df_err *err)
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return df_err_set(err, DF_EIO, "no random bytes for the state identity");
    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);
    snprintf(out, IDENT_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return DF_OK;
}

int ident_get(const char *dir, char *out, struct df_err *err)
{
    char buf[IDENT_LEN + 8], line[IDENT_LEN + 2];
    char *path = fs_join(dir, IDENT_FILE);
    ssize_t n = 0;
    size_t len;
    int fd = -1, rc;

    if (path == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        rc = df_err_set(err, DF_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (fd < 0) {
        /* First use. The caller holds the state directory's lock, so nobody races us; the
         * file is replaced atomically, so a crash leaves either no file or a whole one. */
        rc = new_uuid(out, err);
        if (rc != DF_OK)
            goto out;
        len = (size_t) snprintf(line, sizeof(line), "%s\n", out);
        rc = fs_replace_file(dir, IDENT_FILE, line, len, err);
        goto out;
    }
    do {
        n = read(fd, buf, sizeof(buf));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        rc = df_err_set(err, DF_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    len = (size_t) n;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (!valid_uuid(buf, len)) {
        /* Replacing it would change the names this installation is known by elsewhere (and
         * so lose its Kafka position): a person has to decide. */
        rc = df_err_set(err, DF_ECORRUPT, "%s does not hold a UUID; restore it, or delete it "
                        "to give this state directory a new identity", path);
        goto out;
    }
    memcpy(out, buf, IDENT_LEN);
    out[IDENT_LEN] = '\0';
    rc = DF_OK;
out:
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}
