/*
 * A detached container's log, written by its waiter: what the container
 * writes to stdout and stderr, read from two pipes, as docker's json-file
 * records, one per line (a line longer than 16 KiB is cut into pieces, the
 * last of which ends in "\n", as docker cuts them):
 *
 *   {"log":"hello\n","stream":"stdout","time":"2026-11-30T06:00:00.123456789Z"}
 *
 * The file rotates once the next record would take it past its size cap:
 * container.log becomes container.log.1 (and .1 becomes .2, ...), keeping
 * at most `max_files` files. Written in large blocks; lines that arrive in
 * one read share its time.
 */

#define LOG_LINE_MAX 16384
/* Room for the longest record: every byte of a full line escaped to six (\u00XX), and the rest. */
#define LOG_OUT_MAX (LOG_LINE_MAX * 8)
_Static_assert(LOG_OUT_MAX >= LOG_LINE_MAX * 6 + 128, "a record must fit the output block");

struct log_stream {
  const char *name;
  char line[LOG_LINE_MAX];
  long len;
};

struct log_file {
  long dirfd;
  long fd;
  long size;
  long max_size; /* 0: no cap */
  long max_files;
  char out[LOG_OUT_MAX];
  long out_len;
  char time[40];
};

static const char LOG_NAME[] = "container.log";

static long log_write_all(long fd, const char *p, long n) {
  while (n > 0) {
    long w = sys6(NR_WRITE, fd, (long)p, n, 0, 0, 0);
    if (w == -EINTR_) continue;
    if (w <= 0) return -1;
    p += w;
    n -= w;
  }
  return 0;
}

static void log_flush(struct log_file *f) {
  if (f->out_len > 0 && f->fd >= 0 && log_write_all(f->fd, f->out, f->out_len) == 0) f->size += f->out_len;
  f->out_len = 0;
}

/* "container.log" with ".N" after it, for N > 0. */
static void log_name(long n, char *buf) {
  int i = 0;
  for (; LOG_NAME[i]; i++) buf[i] = LOG_NAME[i];
  buf[i] = 0;
  if (n > 0) {
    buf[i++] = '.';
    decimal(n, buf + i);
  }
}

static long log_open(struct log_file *f, long truncate) {
  char name[48];
  log_name(0, name);
  f->fd = sys6(NR_OPENAT, f->dirfd, (long)name, O_WRONLY_ | O_CREAT_ | O_APPEND_ | O_CLOEXEC_ | (truncate ? O_TRUNC_ : 0) | O_NOFOLLOW_, 0600, 0, 0);
  f->size = 0;
  if (f->fd >= 0) {
    long end = sys6(NR_LSEEK, f->fd, 0, SEEK_END_, 0, 0, 0);
    if (end > 0) f->size = end;
  }
  return f->fd;
}

static void log_rotate(struct log_file *f) {
  log_flush(f);
  if (f->fd >= 0) sys6(NR_CLOSE, f->fd, 0, 0, 0, 0, 0);
  for (long n = f->max_files - 1; n >= 1; n--) {
    char from[48], to[48];
    log_name(n - 1, from);
    log_name(n, to);
    sys6(NR_RENAMEAT2, f->dirfd, (long)from, f->dirfd, (long)to, 0, 0);
  }
  log_open(f, 1);
}

/* Now, as RFC 3339 with nanoseconds in UTC, into f->time. */
static void log_now(struct log_file *f) {
  long ts[2] = {0, 0};
  sys6(NR_CLOCK_GETTIME, CLOCK_REALTIME_, (long)ts, 0, 0, 0, 0);
  long days = ts[0] / 86400, secs = ts[0] % 86400;
  /* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
  long z = days + 719468;
  long era = z / 146097;
  long doe = z - era * 146097;
  long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long y = yoe + era * 400;
  long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long mp = (5 * doy + 2) / 153;
  long d = doy - (153 * mp + 2) / 5 + 1;
  long m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  long parts[6] = {y, m, d, secs / 3600, secs % 3600 / 60, secs % 60};
  const int widths[6] = {4, 2, 2, 2, 2, 2};
  const char seps[6] = {'-', '-', 'T', ':', ':', '.'};
  int at = 0;
  for (int i = 0; i < 6; i++) {
    long v = parts[i];
    for (int k = widths[i] - 1; k >= 0; k--, v /= 10) f->time[at + k] = (char)('0' + v % 10);
    at += widths[i];
    f->time[at++] = seps[i];
  }
  long ns = ts[1];
  for (int k = 8; k >= 0; k--, ns /= 10) f->time[at + k] = (char)('0' + ns % 10);
  at += 9;
  f->time[at++] = 'Z';
  f->time[at] = 0;
}

static const char HEX[] = "0123456789abcdef";

/* One record of `s`'s current line into the output block (rotating first if it would pass the cap). */
static void log_record(struct log_file *f, struct log_stream *s) {
  /* Escaped, a byte takes at most 6 (\u00XX); the rest of the record under 128. After a flush it fits (LOG_OUT_MAX). */
  long need = s->len * 6 + 128;
  if (f->out_len + need > LOG_OUT_MAX) log_flush(f);
  if (f->max_size > 0 && f->size > 0 && f->size + f->out_len + need > f->max_size) log_rotate(f);
  char *o = f->out + f->out_len;
  const char *head = "{\"log\":\"";
  while (*head) *o++ = *head++;
  for (long i = 0; i < s->len; i++) {
    unsigned char c = (unsigned char)s->line[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c == '\n') {
      *o++ = '\\';
      *o++ = 'n';
    } else if (c == '\r') {
      *o++ = '\\';
      *o++ = 'r';
    } else if (c == '\t') {
      *o++ = '\\';
      *o++ = 't';
    } else if (c < 0x20 || c == 0x7f) {
      *o++ = '\\';
      *o++ = 'u';
      *o++ = '0';
      *o++ = '0';
      *o++ = HEX[c >> 4];
      *o++ = HEX[c & 15];
    } else {
      *o++ = (char)c;
    }
  }
  const char *mid = "\",\"stream\":\"";
  while (*mid) *o++ = *mid++;
  for (const char *n = s->name; *n; n++) *o++ = *n;
  const char *t = "\",\"time\":\"";
  while (*t) *o++ = *t++;
  for (const char *n = f->time; *n; n++) *o++ = *n;
  *o++ = '"';
  *o++ = '}';
  *o++ = '\n';
  f->out_len = o - f->out;
  s->len = 0;
}

/* Bytes read from a stream: whole lines become records; a line reaching 16 KiB goes as a piece. */
static void log_bytes(struct log_file *f, struct log_stream *s, const char *p, long n) {
  for (long i = 0; i < n; i++) {
    s->line[s->len++] = p[i];
    if (p[i] == '\n' || s->len == LOG_LINE_MAX) log_record(f, s);
  }
}
