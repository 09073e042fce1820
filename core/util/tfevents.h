/* tfevents.h - TensorBoard event files, so a run can be watched in
 * TensorBoard while it trains.
 *
 * An event file is a sequence of TFRecords, each one serialized
 * tensorflow.Event protobuf:
 *   uint64 length, uint32 masked CRC32C of those 8 bytes,
 *   byte data[length], uint32 masked CRC32C of the data    (little-endian)
 * strata writes three kinds of Event: the header (file_version
 * "brain.Event:2"), a scalar (summary.value {tag, simple_value}) and a text
 * (summary.value {tag, metadata.plugin_data.plugin_name "text", tensor
 * DT_STRING string_val}), with wall_time and step. That is a handful of fixed
 * protobuf fields, so they are encoded by hand (tfevents.c): a protobuf
 * library and its generated code would weigh more than that one file.
 * The bytes are those Python's protobuf + tensorboard write for the same
 * events (tests/unit/test_tfevents.c, scripts/make_tfevents_reference.py).
 *
 * Like metrics.jsonl the file is an append-only log, not written atomically:
 * TensorBoard follows it while it grows. Call st_tfevents_flush after each
 * step's records. */
#ifndef ST_TFEVENTS_H
#define ST_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_tfevents st_tfevents;

/* Creates dir (mkdir -p) and in it a new event file named as TensorFlow
 * names them, events.out.tfevents.<unix seconds>.<hostname> (".1", ".2"...
 * appended when that name exists: a resumed run in the same second), and
 * writes the header with the current time. ST_ERR + a message naming the
 * folder or file. */
int st_tfevents_open(st_tfevents **w, const char *dir);
/* The same for an exact path, which must not exist yet, and a given header
 * wall time (seconds since the epoch): for tests and for callers that name
 * their own file. */
int st_tfevents_open_file(st_tfevents **w, const char *path, double wall_time);
/* the file being written */
const char *st_tfevents_path(const st_tfevents *w);

/* One scalar at a step; TensorBoard stores simple_value as a float32, so
 * value is rounded to float. wall_time: seconds since the epoch. tag must be
 * non-empty ("train/loss": the part before '/' groups the charts). */
int st_tfevents_scalar(st_tfevents *w, const char *tag, int64_t step, double wall_time,
                       double value);
/* One UTF-8 text (TensorBoard renders it as Markdown) at a step. */
int st_tfevents_text(st_tfevents *w, const char *tag, int64_t step, double wall_time,
                     const char *text);
/* Hands what was written to the OS, so a reader sees whole records. */
int st_tfevents_flush(st_tfevents *w);
/* Flushes and closes; ST_ERR when the last writes failed. w may be NULL. */
int st_tfevents_close(st_tfevents *w);

/* CRC-32C (Castagnoli), as TFRecord frames use it before masking */
uint32_t st_crc32c(const void *data, size_t n);

#endif
