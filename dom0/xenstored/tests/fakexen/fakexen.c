/* fakexen.c: an LD_PRELOAD shim that lets Debian's C xenstored 4.17 run on a host without Xen,
 * for Ferrite's differential test (dom0/xenstored/tests/differential.rs).
 *
 * C xenstored started with -D never builds its node database and crashes on the first request,
 * so the test starts it without -D and this shim stands in for Xen:
 *  - libxenctrl, libxenevtchn and libxengnttab calls succeed with dummy handles; every domain
 *    below DOMID_FIRST_RESERVED exists and is running (xc_domain_getinfo), and VIRQ_DOM_EXC
 *    never fires;
 *  - dom0's ring (/proc/xen/xsd_port, /proc/xen/xsd_kva) is a port file and a zeroed page file
 *    under $FAKEXEN_DIR, so dom0_init() succeeds and builds the initial tree;
 *  - the ring of a domain introduced with XS_INTRODUCE is the file $FAKEXEN_DIR/ring-<domid>
 *    (grant mapping = mmap of that file), and the event channel device is the FIFO
 *    $FAKEXEN_DIR/evtchn: the test writes 4 bytes to it after queueing a request in a ring.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xenctrl.h>

static int dummy_handle;
static int evtchn_fd = -1;
static int next_port = 10;

static const char *fake_dir(void)
{
	const char *d = getenv("FAKEXEN_DIR");
	return d ? d : "/tmp";
}

int open(const char *path, int flags, ...)
{
	static int (*real_open)(const char *, int, ...);
	char buf[4096];
	mode_t mode = 0;
	va_list ap;

	if (!real_open)
		real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	va_start(ap, flags);
	if (flags & O_CREAT)
		mode = va_arg(ap, mode_t);
	va_end(ap);

	if (!strcmp(path, "/proc/xen/xsd_port")) {
		snprintf(buf, sizeof(buf), "%s/xsd_port", fake_dir());
		return real_open(buf, flags, mode);
	}
	if (!strcmp(path, "/proc/xen/xsd_kva")) {
		snprintf(buf, sizeof(buf), "%s/xsd_kva", fake_dir());
		return real_open(buf, flags, mode);
	}
	return real_open(path, flags, mode);
}

/* libxenctrl */
xc_interface *xc_interface_open(xentoollog_logger *logger, xentoollog_logger *dombuild_logger,
				unsigned open_flags)
{
	return (xc_interface *)&dummy_handle;
}
int xc_interface_close(xc_interface *xch) { return 0; }

/* Every domain exists and runs. */
int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid, unsigned int max_doms,
		      xc_dominfo_t *info)
{
	if (first_domid >= 0x7ff0)
		return 0;
	memset(info, 0, sizeof(*info));
	info->domid = first_domid;
	info->running = 1;
	return 1;
}

/* libxenevtchn */
void *xenevtchn_open(void *logger, unsigned open_flags)
{
	char path[4096];

	if (evtchn_fd < 0) {
		snprintf(path, sizeof(path), "%s/evtchn", fake_dir());
		if (mkfifo(path, 0600) && errno != EEXIST)
			return NULL;
		evtchn_fd = open(path, O_RDWR | O_NONBLOCK);
		if (evtchn_fd < 0)
			return NULL;
	}
	return &dummy_handle;
}
void *xenevtchn_fdopen(void *logger, int fdopen, unsigned open_flags)
{
	return xenevtchn_open(logger, open_flags);
}
int xenevtchn_fd(void *xce) { return evtchn_fd; }
int xenevtchn_bind_virq(void *xce, unsigned int virq) { return next_port++; }
int xenevtchn_bind_interdomain(void *xce, uint32_t domid, uint32_t remote_port)
{
	return next_port++;
}
int xenevtchn_notify(void *xce, uint32_t port) { return 0; }
int xenevtchn_unbind(void *xce, uint32_t port) { return 0; }
/* A kick from the test: some port with no special meaning (C then scans every ring). */
int xenevtchn_pending(void *xce)
{
	char buf[4];

	if (read(evtchn_fd, buf, sizeof(buf)) < 0 && errno != EAGAIN)
		return -1;
	return 9999;
}
int xenevtchn_unmask(void *xce, uint32_t port) { return 0; }

/* libxengnttab: a domain's ring page is a zeroed file under $FAKEXEN_DIR. */
void *xengnttab_open(void *logger, unsigned open_flags) { return &dummy_handle; }
int xengnttab_close(void *xgt) { return 0; }
int xengnttab_set_max_grants(void *xgt, uint32_t nr) { return 0; }
void *xengnttab_map_grant_ref(void *xgt, uint32_t domid, uint32_t ref, int prot)
{
	char path[4096];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/ring-%u", fake_dir(), domid);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, 4096)) {
		close(fd);
		return NULL;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}
int xengnttab_unmap(void *xgt, void *start_address, uint32_t count)
{
	return munmap(start_address, 4096 * count);
}
