// SPDX-License-Identifier: MIT
/*
 * steer.c - the loader behind zio-run --xdp.  See steer_cli.h.
 *
 * Order (libbpf-bootstrap's): open the skeleton, set rodata, load,
 * attach, and check every result.  Attachment, in order of preference:
 *
 *   1. libxdp's multi-program dispatcher, so other XDP programs can share
 *      the interface.  It needs freplace programs; where the kernel
 *      refuses them (this machine: EPERM) libxdp falls back to attaching
 *      our program alone through netlink.
 *   2. A lone program is re-attached as a bpf_link: a netlink attachment
 *      outlives the process, a link goes away with its last fd.  zio-run
 *      execs PROGRAM with the link fd open (not close-on-exec), so the
 *      program's death, however it dies, detaches the XDP program.
 *
 * Native (driver) mode first, generic (skb) mode where the driver has
 * none.  A dispatcher attachment (netlink) does outlive a killed run:
 * the next zio-run --xdp on that interface finds our program (by name),
 * reads its owner's pid from the program's rodata, and detaches it when
 * that process is gone.  Pin directories of dead pids go the same way
 * (zio_reap_pins in util.c, the reaper zio-run --observe and zio-stat
 * use too).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "steer.h"
#include "steer.skel.h"
#include "steer_cli.h"
#include "util.h"

/* libxdp's messages go through the tools' one printer, one level below
 * ours like libbpf's (util.h).  Returns as zio_vprint. */
static int print_xdp(enum libxdp_print_level lvl, const char *fmt, va_list ap)
{
	return zio_vprint((int)lvl + 1, fmt, ap);
}

/* Owner pid recorded in the rodata of a loaded steering program; 0 if
 * it cannot be read. */
static pid_t prog_owner(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[8];
	pid_t owner = 0;

	info.nr_map_ids = 8;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	for (__u32 i = 0; i < info.nr_map_ids && i < 8 && !owner; i++) {
		struct bpf_map_info mi = {};
		__u32 ml = sizeof(mi), key = 0;
		int fd = bpf_map_get_fd_by_id(ids[i]);
		char *val;

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &mi, &ml) && strstr(mi.name, ".rodata") &&
		    mi.value_size >= sizeof(struct zio_steer_cfg)) {
			val = calloc(1, mi.value_size);
			if (val && !bpf_map_lookup_elem(fd, &key, val)) {
				const struct zio_steer_cfg *c = (const void *)val;

				if (c->abi == ZIO_STEER_ABI)
					owner = (pid_t)c->owner_pid;
			}
			free(val);
		}
		close(fd);
	}
	return owner;
}

/* Whether program id is attached through a bpf_link (whose owner is
 * alive by construction: links die with their last fd).  Returns true or
 * false. */
static bool has_link(__u32 prog_id)
{
	__u32 id = 0;

	while (!bpf_link_get_next_id(id, &id)) {
		struct bpf_link_info li = {};
		__u32 len = sizeof(li);
		int fd = bpf_link_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &li, &len) && li.prog_id == prog_id) {
			close(fd);
			return true;
		}
		close(fd);
	}
	return false;
}

/*
 * A steering program of a dead zio-run still attached to ifindex (netlink
 * or dispatcher attachments survive their process) is detached.  One of
 * a live run makes us refuse: two runtimes cannot share the queues.
 * Returns the number removed, or -EBUSY.
 */
static int clean_stale_progs(int ifindex)
{
	static const struct { __u32 flag; const char *name; } modes[] = {
		{ XDP_FLAGS_DRV_MODE, "native" }, { XDP_FLAGS_SKB_MODE, "generic" },
	};
	int removed = 0;

	for (size_t m = 0; m < 2; m++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info), id = 0;
		int fd;
		pid_t owner;

		if (bpf_xdp_query_id(ifindex, (int)modes[m].flag, &id) || !id)
			continue;
		fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			close(fd);
			continue;
		}
		if (!strcmp(info.name, "xdp_dispatcher")) {
			/* libxdp's dispatcher: look for our program among its
			 * components. */
			struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
			struct xdp_program *p = NULL;

			close(fd);
			if (libxdp_get_error(mp))
				continue;
			while ((p = xdp_multiprog__next_prog(p, mp))) {
				if (strcmp(xdp_program__name(p), ZIO_STEER_PROG))
					continue;
				owner = prog_owner(xdp_program__fd(p));
				if (zio_pid_alive(owner, 0)) {
					pr_warn("zio-run: %s already steered by zio pid %d\n",
						modes[m].name, (int)owner);
					xdp_multiprog__close(mp);
					return -EBUSY;
				}
				if (!xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0))
					removed++;
				break;
			}
			xdp_multiprog__close(mp);
			continue;
		}
		if (strcmp(info.name, ZIO_STEER_PROG)) {
			close(fd);
			continue;
		}
		owner = prog_owner(fd);
		if (has_link(id) || zio_pid_alive(owner, 0)) {
			pr_warn("zio-run: interface already steered by zio pid %d\n",
				(int)owner);
			close(fd);
			return -EBUSY;
		}
		{
			LIBBPF_OPTS(bpf_xdp_attach_opts, ao, .old_prog_fd = fd);

			if (!bpf_xdp_detach(ifindex, modes[m].flag, &ao))
				removed++;
		}
		close(fd);
	}
	return removed;
}

/* The MTU and MAC of ifname.  Returns 0, or -errno when the MTU cannot be
 * read (no MAC: left as it was). */
static int if_info(const char *ifname, int *mtu, uint8_t mac[6])
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFMTU, &ifr))
		err = -errno;
	else
		*mtu = ifr.ifr_mtu;
	if (!err && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return err;
}

/* Returns the number of rx queues (the sysfs view of the current netns),
 * 1 when sysfs does not say. */
static int if_queues(const char *ifname)
{
	char path[PATH_MAX];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	d = opendir(path);
	if (!d)
		return 1;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "rx-", 3))
			n++;
	closedir(d);
	return n ? n : 1;
}

/* Attach prog_fd as a bpf_link in the wanted mode (auto: native, then
 * generic).  Returns the link fd or -errno. */
static int attach_link(int prog_fd, int ifindex, enum zio_steer_mode want, const char **mode)
{
	static const struct { enum zio_steer_mode m; __u32 flag; const char *name; } order[] = {
		{ ZIO_STEER_MODE_NATIVE, XDP_FLAGS_DRV_MODE, "drv" },
		{ ZIO_STEER_MODE_GENERIC, XDP_FLAGS_SKB_MODE, "skb" },
	};
	int err = -EINVAL;

	for (size_t i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = order[i].flag);
		int fd;

		if (want != ZIO_STEER_MODE_AUTO && want != order[i].m)
			continue;
		fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lo);
		if (fd >= 0) {
			*mode = order[i].name;
			return fd;
		}
		err = -errno;
	}
	return err;
}

/*
 * libxdp first: keep the dispatcher if it loads, else undo libxdp's lone
 * netlink attachment (we want a link).  Returns 1 when the dispatcher is
 * in place, 0 when the caller should attach a link, -errno on failure.
 */
static int try_libxdp(struct steer_bpf *skel, struct zio_steer *x, enum zio_steer_mode want)
{
	static const struct {
		enum zio_steer_mode m;
		enum xdp_attach_mode a;
		const char *name;
	} order[] = {
		{ ZIO_STEER_MODE_NATIVE, XDP_MODE_NATIVE, "drv" },
		{ ZIO_STEER_MODE_GENERIC, XDP_MODE_SKB, "skb" },
	};
	struct xdp_program *xp = xdp_program__from_bpf_obj(skel->obj, "xdp.frags");
	int err = -EINVAL;

	if (libxdp_get_error(xp))
		return (int)libxdp_get_error(xp);
	for (size_t i = 0; i < 2; i++) {
		struct xdp_multiprog *mp;
		bool legacy;

		if (want != ZIO_STEER_MODE_AUTO && want != order[i].m)
			continue;
		err = xdp_program__attach(xp, x->ifindex, order[i].a, 0);
		if (err)
			continue;
		mp = xdp_multiprog__get_from_ifindex(x->ifindex);
		legacy = libxdp_get_error(mp) || xdp_multiprog__is_legacy(mp);
		if (!libxdp_get_error(mp))
			xdp_multiprog__close(mp);
		if (!legacy) {
			x->mode = order[i].name;
			x->xprog = xp;
			return 1;
		}
		/* A lone netlink program would outlive us: take it off again
		 * and attach the loaded program as a link instead. */
		xdp_program__detach(xp, x->ifindex, order[i].a, 0);
		xdp_program__close(xp);
		return 0;
	}
	xdp_program__close(xp);
	return err;
}

/*
 * The interface's index, MTU, MAC and queues into x; stale programs and
 * pins removed; our pin directory made.  Returns 0, or -errno with a
 * message on stderr.
 */
static int prepare(const struct zio_steer_opts *o, struct zio_steer *x)
{
	int err, n;

	x->ifindex = (int)if_nametoindex(o->ifname);
	if (!x->ifindex) {
		err = -errno;
		pr_warn("zio-run: no interface %s: %s\n", o->ifname, strerror(-err));
		return err;
	}
	err = if_info(o->ifname, &x->mtu, x->mac);
	if (err) {
		pr_warn("zio-run: failed to query %s: %s\n", o->ifname, strerror(-err));
		return err;
	}
	x->nqueues = if_queues(o->ifname);
	if (o->queue >= x->nqueues) {
		pr_warn("zio-run: %s has %d rx queue(s), no queue %d\n", o->ifname,
			x->nqueues, o->queue);
		return -EINVAL;
	}
	err = zio_mount_bpffs();
	if (err) {
		pr_warn("zio-run: failed to mount bpffs at %s: %s\n", ZIO_BPFFS, strerror(-err));
		return err;
	}
	n = zio_reap_pins();
	x->stale_removed = n > 0 ? n : 0;
	n = clean_stale_progs(x->ifindex);
	if (n < 0)
		return n;
	x->stale_removed += n;
	if (n)
		pr_warn("zio-run: removed %d stale XDP program(s) from %s\n", n,
			o->ifname);

	snprintf(x->pin_dir, sizeof(x->pin_dir), ZIO_PIN_ROOT "/%d", (int)getpid());
	if ((mkdir(ZIO_PIN_ROOT, 0700) && errno != EEXIST) ||
	    (mkdir(x->pin_dir, 0700) && errno != EEXIST)) {
		err = -errno;
		pr_warn("zio-run: failed to create %s: %s\n", x->pin_dir, strerror(-err));
		return err;
	}
	return 0;
}

int zio_steer__load(const struct zio_steer_opts *o, struct zio_steer *x)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct steer_bpf *skel = NULL;
	int err;

	memset(x, 0, sizeof(*x));
	x->link_fd = -1;
	libxdp_set_print(print_xdp);
	err = prepare(o, x);
	if (err)
		return err;
	oo.pin_root_path = x->pin_dir;
	skel = steer_bpf__open_opts(&oo);
	if (!skel) {
		err = -errno;
		pr_warn("zio-run: failed to open the XDP program: %s\n", strerror(-err));
		goto err;
	}
	x->skel = skel;
	skel->rodata->cfg.abi = ZIO_STEER_ABI;
	skel->rodata->cfg.owner_pid = (__u32)getpid();
	memcpy((void *)skel->rodata->cfg.mac, x->mac, 6);

	err = o->no_libxdp ? 0 : try_libxdp(skel, x, o->mode);
	if (err == 1) {
		x->dispatcher = true;
		x->how = "libxdp-dispatcher";
		return 0;
	}
	if (bpf_program__fd(skel->progs.zio_steer) < 0) {
		/* libxdp did not get as far as loading it */
		err = steer_bpf__load(skel);
		if (err) {
			pr_warn("zio-run: failed to load the XDP program: %s\n",
				strerror(-err));
			goto err;
		}
	}
	err = attach_link(bpf_program__fd(skel->progs.zio_steer), x->ifindex, o->mode, &x->mode);
	if (err < 0) {
		pr_warn("zio-run: failed to attach the XDP program to %s: %s\n",
			o->ifname, strerror(-err));
		goto err;
	}
	x->link_fd = err;
	x->how = "bpf_link";
	/* The link must survive exec into PROGRAM: it is what keeps the
	 * program attached, and its close at PROGRAM's death detaches it. */
	if (fcntl(x->link_fd, F_SETFD, 0)) {
		err = -errno;
		goto err;
	}
	return 0;
err:
	zio_steer__destroy(x);
	return err;
}

int zio_steer__setenv(const struct zio_steer *x, const struct zio_steer_opts *o)
{
	char queues[1024] = "", mac[16];

	for (int i = 0; i < x->nqueues; i++)
		if (o->queue < 0 || i == o->queue)
			snprintf(queues + strlen(queues), sizeof(queues) - strlen(queues), "%s%d",
				 queues[0] ? "," : "", i);
	snprintf(mac, sizeof(mac), "%02x%02x%02x%02x%02x%02x", x->mac[0], x->mac[1], x->mac[2],
		 x->mac[3], x->mac[4], x->mac[5]);
	pr_info("zio-run: XDP program on %s (%s mode, %s), queues %s, ports %s, "
		"maps in %s\n", o->ifname, x->mode, x->how, queues, o->ports, x->pin_dir);
	if (setenv(ZIO_ENV_XDP_IFACE, o->ifname, 1) ||
	    zio_setenv_ll(ZIO_ENV_XDP_IFINDEX, x->ifindex) ||
	    setenv(ZIO_ENV_XDP_QUEUES, queues, 1) ||
	    setenv(ZIO_ENV_XDP_PORTS, o->ports, 1) ||
	    setenv(ZIO_ENV_XDP_PIN_DIR, x->pin_dir, 1) ||
	    zio_setenv_ll(ZIO_ENV_XDP_LINK_FD, x->link_fd) ||
	    zio_setenv_ll(ZIO_ENV_XDP_ABI, ZIO_STEER_ABI) ||
	    setenv(ZIO_ENV_XDP_MODE, x->mode, 1) ||
	    zio_setenv_ll(ZIO_ENV_XDP_MTU, x->mtu) ||
	    setenv(ZIO_ENV_XDP_MAC, mac, 1) ||
	    (o->frames && zio_setenv_ll(ZIO_ENV_XDP_FRAMES, o->frames)) ||
	    (o->ring && zio_setenv_ll(ZIO_ENV_XDP_RING, o->ring)) ||
	    (o->bind && setenv(ZIO_ENV_XDP_BIND, o->bind, 1)))
		return -errno;
	return 0;
}

void zio_steer__destroy(struct zio_steer *x)
{
	struct steer_bpf *skel = x->skel;

	if (x->link_fd >= 0)
		close(x->link_fd);
	x->link_fd = -1;
	if (x->xprog) {
		xdp_program__detach(x->xprog, x->ifindex, XDP_MODE_UNSPEC, 0);
		xdp_program__close(x->xprog);
		x->xprog = NULL;
	}
	if (skel) {
		bpf_map__unpin(skel->maps.zio_xsks, NULL);
		bpf_map__unpin(skel->maps.zio_ports, NULL);
		bpf_map__unpin(skel->maps.zio_steer_cnt, NULL);
		steer_bpf__destroy(skel);
		x->skel = NULL;
	}
	if (x->pin_dir[0])
		rmdir(x->pin_dir);
}
