/*
 * A fake libnvidia-ml.so.1 for MetaGPU's tests: the NVML entry points MetaGPU calls, with nvml.h's
 * signatures and struct layouts, answering from a text file instead of a GPU.
 *
 *   gcc -shared -fPIC -O1 -o libnvidia-ml.so.1 fake_nvml.c -lpthread
 *
 * The world is read from the file named by the environment variable FAKE_NVML_CONFIG, or by the path last
 * given to fake_nvml_set_config() (which wins; in-process .NET tests need it, as .NET's
 * Environment.SetEnvironmentVariable never reaches the C library's getenv). It is re-read on every
 * nvmlInit_v2 and whenever the file's inode, size or modification time changes, so a test can change the
 * world while the process under test runs (best: write a new file and rename it over the old one).
 * A missing or unreadable file fails nvmlInit_v2 with NVML_ERROR_DRIVER_NOT_LOADED (the reason goes to
 * stderr, as do warnings about lines that do not parse, which are skipped).
 * Other test hooks: fake_nvml_init_count() (inits not yet shut down), fake_nvml_event_set_count().
 *
 * One record a line; '#' starts a comment line; fields are key=value, a value either a bare word or a
 * "double-quoted string" (\" and \\ escape). Numbers are decimal or 0x-hex.
 *
 *   driver 550.54.15                     nvmlSystemGetDriverVersion (rest of the line)
 *   cuda 12040                           nvmlSystemGetCudaDriverVersion_v2
 *   gpu index=0 uuid=GPU-... name="NVIDIA H100 80GB HBM3" mem_total=85899345920 mem_used=1048576
 *       [mem_free=N (default total-used)] pci=00000000:07:00.0 [pci_device_id=0x233010DE] minor=0
 *       [compute_mode=0..3] [mig=0|1] [mig_pending=0|1] [temp=C] [power=mW] [util_gpu=%] [util_mem=%]
 *       [events=MASK (default 0xb)]
 *     An optional field left out makes its query return NVML_ERROR_NOT_SUPPORTED.
 *     index defaults to the GPU's position among the gpu lines.
 *   process gpu=0 pid=4242 mem=6442450944|na kind=compute|graphics|both [gi=N] [ci=N]
 *   putil gpu=0 pid=4242 ts=1000 sm=50 mem=20 [enc=0] [dec=0]
 *   event gpu=0 type=0x8 data=79 [gi=N] [ci=N]
 *     Events are delivered in file order by nvmlEventSetWait_v2, each once per event set, to the sets in
 *     which that GPU registered that type (others skip it). Append lines to queue more: a set remembers
 *     how many it has passed. With nothing queued the wait re-reads the file every 10 ms until its timeout,
 *     then returns NVML_ERROR_TIMEOUT.
 *   error func=nvmlDeviceGetTemperature [gpu=1] code=3
 *     That function returns that code (for the one GPU when gpu= is given). Works for every entry point,
 *     nvmlInit_v2 and nvmlEventSetWait_v2 included (not for nvmlErrorString).
 *   lost gpu=1 [event=0]
 *     Every per-device call on that GPU returns NVML_ERROR_GPU_IS_LOST; an event set in which it is
 *     registered reports it once from nvmlEventSetWait_v2 (GPU_IS_LOST, data->device set), unless
 *     event=0: a GPU that falls off without any event, found only by querying it.
 *   A fault that lasts "until cleared" is a line removed again: e.g. error func=nvmlDeviceRegisterEvents
 *   gpu=1 code=999 makes every registration of GPU 1 fail until a rewrite of the file drops the line.
 *
 * Thread-safe: one mutex guards the world; nvmlEventSetWait_v2 sleeps outside it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

/* ---- nvml.h's types (layouts as nvml.h defines them) ---- */

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_UNKNOWN = 999,
};

typedef struct fake_device *nvmlDevice_t;
typedef struct fake_event_set *nvmlEventSet_t;

typedef struct {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct {
    char busIdLegacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

typedef struct {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil;
    unsigned int memUtil;
    unsigned int encUtil;
    unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t");
_Static_assert(sizeof(nvmlPciInfo_t) == 68 && offsetof(nvmlPciInfo_t, busId) == 36, "nvmlPciInfo_t");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24 && offsetof(nvmlProcessInfo_t, usedGpuMemory) == 8, "nvmlProcessInfo_t");
_Static_assert(sizeof(nvmlProcessUtilizationSample_t) == 32 && offsetof(nvmlProcessUtilizationSample_t, timeStamp) == 8,
               "nvmlProcessUtilizationSample_t");
_Static_assert(sizeof(nvmlEventData_t) == 32 && offsetof(nvmlEventData_t, gpuInstanceId) == 24, "nvmlEventData_t");

#define NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFULL

/* ---- the world ---- */

#define MAX_GPUS 64
#define TEXT_MAX 512

enum { HAS_COMPUTE_MODE = 1, HAS_MIG = 2, HAS_TEMP = 4, HAS_POWER = 8, HAS_UTIL = 16 };

struct fake_device {
    unsigned int index;
    char uuid[TEXT_MAX];
    char name[TEXT_MAX];
    unsigned long long mem_total, mem_used, mem_free;
    int mem_free_given;
    char pci[TEXT_MAX];
    unsigned int pci_device_id;
    unsigned int minor;
    unsigned int has;
    unsigned int compute_mode, mig, mig_pending, temp, power, util_gpu, util_mem;
    unsigned long long events;
    int lost; /* LOST_ANNOUNCED or LOST_SILENT when lost */
};

enum { LOST_ANNOUNCED = 1, LOST_SILENT = 2 };

enum { KIND_COMPUTE = 1, KIND_GRAPHICS = 2 };
struct fake_process { unsigned int gpu, pid, gi, ci, kinds; unsigned long long mem; };
struct fake_putil { unsigned int gpu, pid, sm, mem, enc, dec; unsigned long long ts; };
struct fake_event { unsigned int gpu, gi, ci; unsigned long long type, data; };
struct fake_error { char func[128]; int gpu; /* -1: any */ int code; };

struct fake_event_set {
    struct fake_event_set *next;
    unsigned long long registered[MAX_GPUS];
    int lost_reported[MAX_GPUS];
    size_t cursor;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_init_count;
static char *g_config_override;

static struct fake_device g_devices[MAX_GPUS];
static unsigned int g_device_count;
static char g_driver[TEXT_MAX];
static int g_cuda;
static struct fake_process *g_procs; static size_t g_proc_count, g_proc_cap;
static struct fake_putil *g_putils; static size_t g_putil_count, g_putil_cap;
static struct fake_event *g_events; static size_t g_event_count, g_event_cap;
static struct fake_error *g_errors; static size_t g_error_count, g_error_cap;
static unsigned int g_lost[MAX_GPUS]; static int g_lost_kind[MAX_GPUS]; static size_t g_lost_count;
static struct fake_event_set *g_sets;

static char g_loaded_path[4096];
static struct stat g_loaded_stat;
static int g_loaded;

/* Appends one zeroed element to a growable array; NULL when out of memory. */
static void *grow(void **items, size_t *count, size_t *cap, size_t size)
{
    if (*count == *cap) {
        size_t next = *cap ? *cap * 2 : 16;
        void *p = realloc(*items, next * size);
        if (!p)
            return NULL;
        *items = p;
        *cap = next;
    }
    void *slot = (char *)*items + (*count)++ * size;
    memset(slot, 0, size);
    return slot;
}

#define GROW(arr, count, cap) grow((void **)&(arr), &(count), &(cap), sizeof(*(arr)))

static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- parsing ---- */

struct field { char key[64]; char *value; };
#define MAX_FIELDS 32

/* Splits "kind k=v k="quoted v" ..." in place. Returns the number of fields, -1 on a syntax error. */
static int split_fields(char *p, struct field *fields, int max)
{
    int n = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return n;
        if (n == max)
            return -1;
        char *eq = p;
        while (*eq && *eq != '=' && *eq != ' ' && *eq != '\t')
            eq++;
        if (*eq != '=' || eq == p || (size_t)(eq - p) >= sizeof(fields[n].key))
            return -1;
        memcpy(fields[n].key, p, (size_t)(eq - p));
        fields[n].key[eq - p] = '\0';
        p = eq + 1;
        if (*p == '"') {
            char *out = ++p;
            fields[n].value = out;
            while (*p && *p != '"') {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                *out++ = *p++;
            }
            if (*p != '"')
                return -1;
            p++;
            *out = '\0';
        } else {
            fields[n].value = p;
            while (*p && *p != ' ' && *p != '\t')
                p++;
            if (*p)
                *p++ = '\0';
        }
        n++;
    }
}

static const char *field_get(struct field *f, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(f[i].key, key) == 0)
            return f[i].value;
    return NULL;
}

static int parse_u64(const char *s, unsigned long long *out)
{
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

static int parse_i64(const char *s, long long *out)
{
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

/* Reads an optional unsigned field; returns 1 when present and valid, 0 when absent, -1 when malformed. */
static int opt_u64(struct field *f, int n, const char *key, unsigned long long *out)
{
    const char *v = field_get(f, n, key);
    if (!v)
        return 0;
    return parse_u64(v, out) ? 1 : -1;
}

static int opt_u32(struct field *f, int n, const char *key, unsigned int *out)
{
    unsigned long long v;
    int r = opt_u64(f, n, key, &v);
    if (r == 1) {
        if (v > 0xFFFFFFFFULL)
            return -1;
        *out = (unsigned int)v;
    }
    return r;
}

static void clear_world(void)
{
    memset(g_devices, 0, sizeof(g_devices));
    g_device_count = 0;
    g_driver[0] = '\0';
    g_cuda = 0;
    g_proc_count = g_putil_count = g_event_count = g_error_count = g_lost_count = 0;
}

static void warn(const char *path, int line, const char *what)
{
    fprintf(stderr, "fake_nvml: %s:%d: %s\n", path, line, what);
}

static int parse_line(char *line, const char *path, int lineno)
{
    while (*line == ' ' || *line == '\t')
        line++;
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        line[--len] = '\0';
    if (*line == '\0' || *line == '#')
        return 1;

    char *rest = line;
    while (*rest && *rest != ' ' && *rest != '\t')
        rest++;
    if (*rest)
        *rest++ = '\0';
    while (*rest == ' ' || *rest == '\t')
        rest++;

    if (strcmp(line, "driver") == 0) {
        copy_text(g_driver, sizeof(g_driver), rest);
        return 1;
    }
    if (strcmp(line, "cuda") == 0) {
        long long v;
        if (!parse_i64(rest, &v) || v < 0 || v > 0x7FFFFFFF) {
            warn(path, lineno, "cuda needs a number such as 12040");
            return 0;
        }
        g_cuda = (int)v;
        return 1;
    }

    static const char *const records[] = { "gpu", "process", "putil", "event", "error", "lost" };
    int known = 0;
    for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++)
        known |= strcmp(line, records[i]) == 0;
    if (!known) {
        warn(path, lineno, "unknown record (driver, cuda, gpu, process, putil, event, error, lost)");
        return 0;
    }

    struct field f[MAX_FIELDS];
    int n = split_fields(rest, f, MAX_FIELDS);
    if (n < 0) {
        warn(path, lineno, "malformed fields (key=value or key=\"quoted value\")");
        return 0;
    }
    int bad = 0;
    unsigned int gpu = 0;
    int gpu_given = 0;
    if (strcmp(line, "gpu") != 0) {
        int r = opt_u32(f, n, "gpu", &gpu);
        bad |= r < 0;
        gpu_given = r == 1;
    }

    if (strcmp(line, "gpu") == 0) {
        if (g_device_count == MAX_GPUS) {
            warn(path, lineno, "too many GPUs");
            return 0;
        }
        struct fake_device *d = &g_devices[g_device_count];
        memset(d, 0, sizeof(*d));
        d->index = g_device_count;
        d->events = 0xb;
        const char *s;
        bad |= opt_u32(f, n, "index", &d->index) < 0;
        if ((s = field_get(f, n, "uuid")))
            copy_text(d->uuid, sizeof(d->uuid), s);
        if ((s = field_get(f, n, "name")))
            copy_text(d->name, sizeof(d->name), s);
        if ((s = field_get(f, n, "pci")))
            copy_text(d->pci, sizeof(d->pci), s);
        bad |= opt_u64(f, n, "mem_total", &d->mem_total) < 0;
        bad |= opt_u64(f, n, "mem_used", &d->mem_used) < 0;
        int r = opt_u64(f, n, "mem_free", &d->mem_free);
        bad |= r < 0;
        d->mem_free_given = r == 1;
        if (!d->mem_free_given)
            d->mem_free = d->mem_total > d->mem_used ? d->mem_total - d->mem_used : 0;
        bad |= opt_u32(f, n, "pci_device_id", &d->pci_device_id) < 0;
        bad |= opt_u32(f, n, "minor", &d->minor) < 0;
        bad |= opt_u64(f, n, "events", &d->events) < 0;
        static const struct { const char *key; unsigned int flag; size_t offset; } optional[] = {
            { "compute_mode", HAS_COMPUTE_MODE, offsetof(struct fake_device, compute_mode) },
            { "mig", HAS_MIG, offsetof(struct fake_device, mig) },
            { "temp", HAS_TEMP, offsetof(struct fake_device, temp) },
            { "power", HAS_POWER, offsetof(struct fake_device, power) },
            { "util_gpu", HAS_UTIL, offsetof(struct fake_device, util_gpu) },
            { "util_mem", HAS_UTIL, offsetof(struct fake_device, util_mem) },
        };
        for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
            r = opt_u32(f, n, optional[i].key, (unsigned int *)((char *)d + optional[i].offset));
            bad |= r < 0;
            if (r == 1)
                d->has |= optional[i].flag;
        }
        d->mig_pending = d->mig;
        bad |= opt_u32(f, n, "mig_pending", &d->mig_pending) < 0;
        if (bad) {
            warn(path, lineno, "bad number in a gpu line");
            return 0;
        }
        g_device_count++;
        return 1;
    }
    if (strcmp(line, "process") == 0) {
        struct fake_process *p = GROW(g_procs, g_proc_count, g_proc_cap);
        if (!p)
            return 0;
        p->gpu = gpu;
        p->gi = p->ci = 0xFFFFFFFFu;
        const char *mem = field_get(f, n, "mem");
        if (mem && strcmp(mem, "na") == 0)
            p->mem = NOT_AVAILABLE;
        else
            bad |= opt_u64(f, n, "mem", &p->mem) < 0;
        bad |= opt_u32(f, n, "pid", &p->pid) != 1;
        bad |= opt_u32(f, n, "gi", &p->gi) < 0;
        bad |= opt_u32(f, n, "ci", &p->ci) < 0;
        const char *kind = field_get(f, n, "kind");
        if (!kind || strcmp(kind, "compute") == 0)
            p->kinds = KIND_COMPUTE;
        else if (strcmp(kind, "graphics") == 0)
            p->kinds = KIND_GRAPHICS;
        else if (strcmp(kind, "both") == 0)
            p->kinds = KIND_COMPUTE | KIND_GRAPHICS;
        else
            bad = 1;
        if (bad || !gpu_given) {
            g_proc_count--;
            warn(path, lineno, "process needs gpu=, pid=, mem=N|na and kind=compute|graphics|both");
            return 0;
        }
        return 1;
    }
    if (strcmp(line, "putil") == 0) {
        struct fake_putil *u = GROW(g_putils, g_putil_count, g_putil_cap);
        if (!u)
            return 0;
        u->gpu = gpu;
        bad |= opt_u32(f, n, "pid", &u->pid) != 1;
        bad |= opt_u64(f, n, "ts", &u->ts) < 0;
        bad |= opt_u32(f, n, "sm", &u->sm) < 0;
        bad |= opt_u32(f, n, "mem", &u->mem) < 0;
        bad |= opt_u32(f, n, "enc", &u->enc) < 0;
        bad |= opt_u32(f, n, "dec", &u->dec) < 0;
        if (bad || !gpu_given) {
            g_putil_count--;
            warn(path, lineno, "putil needs gpu=, pid= and numbers");
            return 0;
        }
        return 1;
    }
    if (strcmp(line, "event") == 0) {
        struct fake_event *e = GROW(g_events, g_event_count, g_event_cap);
        if (!e)
            return 0;
        e->gpu = gpu;
        e->gi = e->ci = 0xFFFFFFFFu;
        bad |= opt_u64(f, n, "type", &e->type) != 1;
        bad |= opt_u64(f, n, "data", &e->data) < 0;
        bad |= opt_u32(f, n, "gi", &e->gi) < 0;
        bad |= opt_u32(f, n, "ci", &e->ci) < 0;
        if (bad || !gpu_given) {
            g_event_count--;
            warn(path, lineno, "event needs gpu= and type=");
            return 0;
        }
        return 1;
    }
    if (strcmp(line, "error") == 0) {
        struct fake_error *e = GROW(g_errors, g_error_count, g_error_cap);
        if (!e)
            return 0;
        const char *func = field_get(f, n, "func");
        long long code;
        if (!func || !parse_i64(field_get(f, n, "code"), &code) || bad) {
            g_error_count--;
            warn(path, lineno, "error needs func= and code=");
            return 0;
        }
        copy_text(e->func, sizeof(e->func), func);
        e->code = (int)code;
        e->gpu = gpu_given ? (int)gpu : -1;
        return 1;
    }
    if (strcmp(line, "lost") == 0) {
        unsigned int announced = 1;
        bad |= opt_u32(f, n, "event", &announced) < 0 || announced > 1;
        if (!gpu_given || bad) {
            warn(path, lineno, "lost needs gpu= (and optionally event=0|1)");
            return 0;
        }
        /* Applied once all gpu lines are known. */
        if (g_lost_count < MAX_GPUS) {
            g_lost_kind[g_lost_count] = announced ? LOST_ANNOUNCED : LOST_SILENT;
            g_lost[g_lost_count++] = gpu;
        }
        return 1;
    }
    return 0; /* not reached: the record was checked above */
}

static const char *config_path(void)
{
    if (g_config_override)
        return g_config_override;
    return getenv("FAKE_NVML_CONFIG");
}

/* Loads the config file. Returns 1 on success. Caller holds g_lock. */
static int load_world(void)
{
    const char *path = config_path();
    if (!path || !*path) {
        fprintf(stderr, "fake_nvml: FAKE_NVML_CONFIG is not set\n");
        return 0;
    }
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "fake_nvml: cannot open %s: %s\n", path, strerror(errno));
        return 0;
    }
    struct stat st;
    if (fstat(fileno(file), &st) != 0) {
        fclose(file);
        return 0;
    }
    clear_world();
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, file) >= 0)
        parse_line(line, path, ++lineno);
    free(line);
    fclose(file);

    for (size_t i = 0; i < g_lost_count; i++)
        for (unsigned int d = 0; d < g_device_count; d++)
            if (g_devices[d].index == g_lost[i])
                g_devices[d].lost = g_lost_kind[i];
    copy_text(g_loaded_path, sizeof(g_loaded_path), path);
    g_loaded_stat = st;
    g_loaded = 1;
    return 1;
}

/* Re-reads the file when it changed since it was loaded (a missing or unreadable file keeps the old world). */
static void refresh(void)
{
    const char *path = config_path();
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return;
    if (g_loaded && strcmp(path, g_loaded_path) == 0 && st.st_ino == g_loaded_stat.st_ino &&
        st.st_size == g_loaded_stat.st_size && st.st_mtim.tv_sec == g_loaded_stat.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == g_loaded_stat.st_mtim.tv_nsec)
        return;
    load_world();
}

/* The injected code for func (on device index gpu, or -1 for a call without a device), 0 when none. */
static int injected(const char *func, int gpu)
{
    for (size_t i = 0; i < g_error_count; i++)
        if (strcmp(g_errors[i].func, func) == 0 && (g_errors[i].gpu < 0 || g_errors[i].gpu == gpu))
            return g_errors[i].code;
    return 0;
}

/* Entry: lock, check initialisation, refresh, injected error. */
#define ENTER_SYSTEM(func)                         \
    pthread_mutex_lock(&g_lock);                   \
    if (g_init_count == 0)                         \
        return unlock_with(NVML_ERROR_UNINITIALIZED); \
    refresh();                                     \
    do {                                           \
        int code_ = injected(func, -1);            \
        if (code_)                                 \
            return unlock_with(code_);             \
    } while (0)

/* Entry for per-device calls: also resolves the handle into d and answers for lost GPUs. */
#define ENTER_DEVICE(func, handle)                                  \
    ENTER_SYSTEM_NOERR();                                           \
    struct fake_device *d = device_of(handle);                      \
    if (!d)                                                         \
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);            \
    if (d->lost)                                                    \
        return unlock_with(NVML_ERROR_GPU_IS_LOST);                 \
    do {                                                            \
        int code_ = injected(func, (int)d->index);                  \
        if (code_)                                                  \
            return unlock_with(code_);                              \
    } while (0)

#define ENTER_SYSTEM_NOERR()                          \
    pthread_mutex_lock(&g_lock);                      \
    if (g_init_count == 0)                            \
        return unlock_with(NVML_ERROR_UNINITIALIZED); \
    refresh()

static nvmlReturn_t unlock_with(nvmlReturn_t code)
{
    pthread_mutex_unlock(&g_lock);
    return code;
}

static struct fake_device *device_of(nvmlDevice_t handle)
{
    uintptr_t p = (uintptr_t)handle, base = (uintptr_t)g_devices;
    if (p < base || (p - base) % sizeof(struct fake_device) != 0)
        return NULL;
    size_t slot = (p - base) / sizeof(struct fake_device);
    return slot < g_device_count ? &g_devices[slot] : NULL;
}

static size_t slot_of(const struct fake_device *d)
{
    return (size_t)(d - g_devices);
}

static nvmlReturn_t put_text(char *buffer, unsigned int length, const char *text)
{
    size_t n = strlen(text);
    if (!buffer)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (n + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(buffer, text, n + 1);
    return NVML_SUCCESS;
}

/* ---- test hook ---- */

/* Names the config file directly (NULL: back to FAKE_NVML_CONFIG); the next call re-reads it. */
EXPORT void fake_nvml_set_config(const char *path)
{
    pthread_mutex_lock(&g_lock);
    free(g_config_override);
    g_config_override = path ? strdup(path) : NULL;
    g_loaded = 0;
    pthread_mutex_unlock(&g_lock);
}

/* How many nvmlInit_v2 calls are not yet matched by nvmlShutdown. */
EXPORT int fake_nvml_init_count(void)
{
    pthread_mutex_lock(&g_lock);
    int n = g_init_count;
    pthread_mutex_unlock(&g_lock);
    return n;
}

/* How many event sets are created and not yet freed. */
EXPORT int fake_nvml_event_set_count(void)
{
    pthread_mutex_lock(&g_lock);
    int n = 0;
    for (struct fake_event_set *s = g_sets; s; s = s->next)
        n++;
    pthread_mutex_unlock(&g_lock);
    return n;
}

/* ---- NVML ---- */

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    pthread_mutex_lock(&g_lock);
    if (!load_world())
        return unlock_with(NVML_ERROR_DRIVER_NOT_LOADED);
    int code = injected("nvmlInit_v2", -1);
    if (code)
        return unlock_with(code);
    g_init_count++;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_init_count == 0)
        return unlock_with(NVML_ERROR_UNINITIALIZED);
    int code = injected("nvmlShutdown", -1);
    if (code)
        return unlock_with(code);
    g_init_count--;
    return unlock_with(NVML_SUCCESS);
}

EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 5: return "Already Initialized";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 8: return "Insufficient External Power";
    case 9: return "Driver Not Loaded";
    case 10: return "Timeout";
    case 11: return "Interrupt request issue";
    case 12: return "NVML Shared Library Not Found";
    case 13: return "Function Not Found";
    case 14: return "Corrupted infoROM";
    case 15: return "GPU is lost";
    case 16: return "GPU requires restart";
    case 17: return "The operating system has blocked the request.";
    case 18: return "RM has detected an NVML/RM version mismatch.";
    case 19: return "In use by another client";
    case 20: return "Insufficient Memory";
    case 21: return "No data";
    default: return "Unknown Error";
    }
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    ENTER_SYSTEM("nvmlSystemGetDriverVersion");
    return unlock_with(put_text(version, length, g_driver));
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    ENTER_SYSTEM("nvmlSystemGetCudaDriverVersion_v2");
    if (!cudaDriverVersion)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    *cudaDriverVersion = g_cuda;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    ENTER_SYSTEM("nvmlDeviceGetCount_v2");
    if (!deviceCount)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    *deviceCount = g_device_count;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    ENTER_SYSTEM_NOERR();
    if (!device)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    for (unsigned int i = 0; i < g_device_count; i++) {
        if (g_devices[i].index != index)
            continue;
        int code = injected("nvmlDeviceGetHandleByIndex_v2", (int)index);
        if (code)
            return unlock_with(code);
        *device = &g_devices[i];
        return unlock_with(NVML_SUCCESS);
    }
    return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    ENTER_SYSTEM_NOERR();
    if (!uuid || !device)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    for (unsigned int i = 0; i < g_device_count; i++) {
        if (strcmp(g_devices[i].uuid, uuid) != 0)
            continue;
        int code = injected("nvmlDeviceGetHandleByUUID", (int)g_devices[i].index);
        if (code)
            return unlock_with(code);
        *device = &g_devices[i];
        return unlock_with(NVML_SUCCESS);
    }
    int code = injected("nvmlDeviceGetHandleByUUID", -1);
    return unlock_with(code ? code : NVML_ERROR_NOT_FOUND);
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    ENTER_DEVICE("nvmlDeviceGetUUID", device);
    return unlock_with(put_text(uuid, length, d->uuid));
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    ENTER_DEVICE("nvmlDeviceGetName", device);
    return unlock_with(put_text(name, length, d->name));
}

EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    ENTER_DEVICE("nvmlDeviceGetIndex", device);
    if (!index)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    *index = d->index;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
    ENTER_DEVICE("nvmlDeviceGetMinorNumber", device);
    if (!minorNumber)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    *minorNumber = d->minor;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    ENTER_DEVICE("nvmlDeviceGetMemoryInfo", device);
    if (!memory)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    memory->total = d->mem_total;
    memory->used = d->mem_used;
    memory->free = d->mem_free;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    ENTER_DEVICE("nvmlDeviceGetPciInfo_v3", device);
    if (!pci)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    memset(pci, 0, sizeof(*pci));
    unsigned int domain = 0, bus = 0, dev = 0, fn = 0;
    if (sscanf(d->pci, "%x:%x:%x.%x", &domain, &bus, &dev, &fn) != 4)
        domain = bus = dev = 0;
    pci->domain = domain;
    pci->bus = bus;
    pci->device = dev;
    pci->pciDeviceId = d->pci_device_id;
    copy_text(pci->busId, sizeof(pci->busId), d->pci);
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04X:%02X:%02X.0", domain & 0xFFFF, bus & 0xFF, dev & 0xFF);
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    ENTER_DEVICE("nvmlDeviceGetUtilizationRates", device);
    if (!utilization)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    if (!(d->has & HAS_UTIL))
        return unlock_with(NVML_ERROR_NOT_SUPPORTED);
    utilization->gpu = d->util_gpu;
    utilization->memory = d->util_mem;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t device, int *mode)
{
    ENTER_DEVICE("nvmlDeviceGetComputeMode", device);
    if (!mode)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    if (!(d->has & HAS_COMPUTE_MODE))
        return unlock_with(NVML_ERROR_NOT_SUPPORTED);
    *mode = (int)d->compute_mode;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    ENTER_DEVICE("nvmlDeviceGetMigMode", device);
    if (!currentMode || !pendingMode)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    if (!(d->has & HAS_MIG))
        return unlock_with(NVML_ERROR_NOT_SUPPORTED);
    *currentMode = d->mig;
    *pendingMode = d->mig_pending;
    return unlock_with(NVML_SUCCESS);
}

/* The count-in/count-out protocol of the _v3 process queries. */
static nvmlReturn_t running_processes(struct fake_device *d, unsigned int kind, unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
    if (!infoCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned int needed = 0;
    for (size_t i = 0; i < g_proc_count; i++)
        if (g_procs[i].gpu == d->index && (g_procs[i].kinds & kind))
            needed++;
    if (needed == 0) {
        *infoCount = 0;
        return NVML_SUCCESS;
    }
    if (!infos || *infoCount < needed) {
        *infoCount = needed;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    unsigned int n = 0;
    for (size_t i = 0; i < g_proc_count; i++) {
        const struct fake_process *p = &g_procs[i];
        if (p->gpu != d->index || !(p->kinds & kind))
            continue;
        infos[n].pid = p->pid;
        infos[n].usedGpuMemory = p->mem;
        infos[n].gpuInstanceId = p->gi;
        infos[n].computeInstanceId = p->ci;
        n++;
    }
    *infoCount = n;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
    ENTER_DEVICE("nvmlDeviceGetComputeRunningProcesses_v3", device);
    return unlock_with(running_processes(d, KIND_COMPUTE, infoCount, infos));
}

EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
    ENTER_DEVICE("nvmlDeviceGetGraphicsRunningProcesses_v3", device);
    return unlock_with(running_processes(d, KIND_GRAPHICS, infoCount, infos));
}

EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device, nvmlProcessUtilizationSample_t *utilization,
                                                    unsigned int *processSamplesCount, unsigned long long lastSeenTimeStamp)
{
    ENTER_DEVICE("nvmlDeviceGetProcessUtilization", device);
    if (!processSamplesCount)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    unsigned int needed = 0;
    for (size_t i = 0; i < g_putil_count; i++)
        if (g_putils[i].gpu == d->index && g_putils[i].ts > lastSeenTimeStamp)
            needed++;
    if (needed == 0) {
        *processSamplesCount = 0;
        return unlock_with(NVML_ERROR_NOT_FOUND);
    }
    if (!utilization || *processSamplesCount < needed) {
        *processSamplesCount = needed;
        return unlock_with(NVML_ERROR_INSUFFICIENT_SIZE);
    }
    unsigned int n = 0;
    for (size_t i = 0; i < g_putil_count; i++) {
        const struct fake_putil *u = &g_putils[i];
        if (u->gpu != d->index || u->ts <= lastSeenTimeStamp)
            continue;
        utilization[n].pid = u->pid;
        utilization[n].timeStamp = u->ts;
        utilization[n].smUtil = u->sm;
        utilization[n].memUtil = u->mem;
        utilization[n].encUtil = u->enc;
        utilization[n].decUtil = u->dec;
        n++;
    }
    *processSamplesCount = n;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensorType, unsigned int *temp)
{
    ENTER_DEVICE("nvmlDeviceGetTemperature", device);
    if (!temp || sensorType != 0 /* NVML_TEMPERATURE_GPU */)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    if (!(d->has & HAS_TEMP))
        return unlock_with(NVML_ERROR_NOT_SUPPORTED);
    *temp = d->temp;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    ENTER_DEVICE("nvmlDeviceGetPowerUsage", device);
    if (!power)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    if (!(d->has & HAS_POWER))
        return unlock_with(NVML_ERROR_NOT_SUPPORTED);
    *power = d->power;
    return unlock_with(NVML_SUCCESS);
}

/* ---- events ---- */

static struct fake_event_set **find_set(nvmlEventSet_t set)
{
    for (struct fake_event_set **p = &g_sets; *p; p = &(*p)->next)
        if (*p == set)
            return p;
    return NULL;
}

EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    ENTER_SYSTEM("nvmlEventSetCreate");
    if (!set)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    struct fake_event_set *s = calloc(1, sizeof(*s));
    if (!s)
        return unlock_with(NVML_ERROR_UNKNOWN);
    s->next = g_sets;
    g_sets = s;
    *set = s;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes)
{
    ENTER_DEVICE("nvmlDeviceGetSupportedEventTypes", device);
    if (!eventTypes)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    *eventTypes = d->events;
    return unlock_with(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set)
{
    ENTER_DEVICE("nvmlDeviceRegisterEvents", device);
    if (!find_set(set))
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    if (eventTypes & ~d->events)
        return unlock_with(NVML_ERROR_NOT_SUPPORTED);
    set->registered[slot_of(d)] |= eventTypes;
    return unlock_with(NVML_SUCCESS);
}

/* One step of a wait: a lost GPU not yet reported, else the next queued event for this set. Caller holds g_lock. */
static nvmlReturn_t next_event(struct fake_event_set *set, nvmlEventData_t *data)
{
    for (unsigned int i = 0; i < g_device_count; i++) {
        if (g_devices[i].lost == LOST_ANNOUNCED && set->registered[i] && !set->lost_reported[i]) {
            set->lost_reported[i] = 1;
            memset(data, 0, sizeof(*data));
            data->device = &g_devices[i];
            data->gpuInstanceId = data->computeInstanceId = 0xFFFFFFFFu;
            return NVML_ERROR_GPU_IS_LOST;
        }
    }
    while (set->cursor < g_event_count) {
        const struct fake_event *e = &g_events[set->cursor++];
        for (unsigned int i = 0; i < g_device_count; i++) {
            if (g_devices[i].index != e->gpu || !(set->registered[i] & e->type))
                continue;
            data->device = &g_devices[i];
            data->eventType = e->type;
            data->eventData = e->data;
            data->gpuInstanceId = e->gi;
            data->computeInstanceId = e->ci;
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_TIMEOUT;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    long long deadline = now_ms() + timeoutms;
    for (;;) {
        ENTER_SYSTEM("nvmlEventSetWait_v2");
        if (!data || !find_set(set))
            return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
        nvmlReturn_t code = next_event(set, data);
        pthread_mutex_unlock(&g_lock);
        if (code != NVML_ERROR_TIMEOUT)
            return code;
        long long left = deadline - now_ms();
        if (left <= 0)
            return NVML_ERROR_TIMEOUT;
        struct timespec step = { 0, (left < 10 ? left : 10) * 1000000L };
        nanosleep(&step, NULL);
    }
}

EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    ENTER_SYSTEM("nvmlEventSetFree");
    struct fake_event_set **p = find_set(set);
    if (!p)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    *p = set->next;
    free(set);
    return unlock_with(NVML_SUCCESS);
}
