/* File output: appends one event per line; fsync on commit; truncation-based crash recovery. */
#ifndef DF_OUT_FILE_H
#define DF_OUT_FILE_H

struct out_file_opts {
    char *path;
};

#endif
