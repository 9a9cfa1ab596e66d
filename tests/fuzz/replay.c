/*
 * Plain main() for the fuzz harnesses (Fluent Bit's local_test.c habit): feeds every file of
 * each directory given on the command line (or a single file) to LLVMFuzzerTestOneInput, so
 * ctest replays the committed corpus with gcc, in the normal and the ASan build, without
 * libFuzzer.
 *
 * Each input is read into a buffer of exactly its size, so ASan sees a read one byte past the
 * end as it would under libFuzzer. Files are run in name order to keep failures reproducible.
 * An empty or missing corpus fails: a replay that ran nothing must not pass.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a harness; weak so that harnesses without one still link. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        goto out;
    }
    /* malloc(0) may return NULL; a one-byte allocation keeps the pointer valid. */
    buf = malloc(st.st_size > 0 ? (size_t) st.st_size : 1);
    if (buf == NULL) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        goto out;
    }
    while (got < (size_t) st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t) st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "replay: %s: short read\n", path);
            goto out;
        }
        got += (size_t) r;
    }
    /* Printed first, so a crash inside the harness names its input. */
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, got);
    (void) LLVMFuzzerTestOneInput(buf, got);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

static int keep_entry(const struct dirent *de)
{
    return de->d_name[0] != '.';
}

static int run_dir(const char *dir, size_t *count)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, keep_entry, alphasort), rc = 0;

    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (rc == 0 && (len < 0 || (size_t) len >= sizeof(path)))
            rc = -1;
        else if (rc == 0 && (rc = run_file(path)) == 0)
            (*count)++;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize != NULL)
        (void) LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int rc;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = run_dir(argv[i], &count);
        } else {
            rc = run_file(argv[i]);
            count += rc == 0;
        }
        if (rc != 0)
            return 1;
    }
    if (count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replay: %zu inputs ran without a crash\n", count);
    return 0;
}
