#ifndef TRAILWATCH_CSYSTEMD_SHIM_H
#define TRAILWATCH_CSYSTEMD_SHIM_H
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
