// SPDX-License-Identifier: GPL-2.0-only
/*
 * gunyah_host: /dev/gunyah, the host's message-queue link to Gunyah's Resource Manager
 * (RM) as a transparent packet pipe, plus the VM memory pool that gunyahd lends from.
 *
 * What this owns:
 * - the platform driver for the RM node the RM itself puts in the host DT
 *   (/hypervisor/qcom,resource-manager-rpc@..., compatible "gunyah-resource-manager"):
 *   TX/RX capids from reg[0]/reg[1], TX "not full" / RX "not empty" vIRQs from
 *   interrupts[0]/[1];
 * - msgqueue_send (PUSH) / msgqueue_receive, SMCCC function IDs 0xC600801B / 0xC600801C;
 * - the /reserved-memory pool (compatible "gunyah,vm-memory-pool", no-map): mmap() on the
 *   same fd and the GUNYAH_HOST_GET_POOL ioctl.
 *
 * Invariants:
 * - one packet per read()/write(); nothing is buffered, reordered or interpreted here:
 *   fragmentation, sequence numbers and notifications belong to userspace;
 * - an edge is never lost: a reader/writer clears its "ready" hint *before* the hypercall
 *   and sleeps only until the hint is set again, which the vIRQ handler does;
 * - one opener at a time; the device state lives until the last close, so unbinding the
 *   driver while gunyahd holds the fd makes its calls fail with ENODEV, never crash.
 *
 * Error contract (userspace sees): EINVAL for a bad length, EAGAIN for an empty/full queue
 * under O_NONBLOCK, EBUSY for a second opener, ENODEV once unbound or without a pool,
 * EIO for any other hypervisor error (logged, rate limited), EFAULT for a bad buffer (a
 * packet already dequeued is then lost: the caller broke the contract).
 *
 * The userspace ABI is in include/uapi/linux/gunyah-host.h; the binding and its facts
 * (sources: Gunyah hypervisor docs/api/gunyah_api.md, msgqueue.hvc; RM vm_config.c,
 * vm_dt.c) are in docs/kernel-module.md.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/arm-smccc.h>
#include <linux/bitops.h>
#include <linux/fs.h>
#include <linux/interrupt.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/of.h>
#include <linux/of_reserved_mem.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <asm/virt.h>

#include <uapi/linux/gunyah-host.h>

/* Hypercall numbers 0x1b/0x1c in the SMCCC encoding: fast, SMC64, owner VENDOR_HYP,
 * call class "hypercall" (bits 15:14 = 0b10). */
#define GH_HC(nr) ARM_SMCCC_CALL_VAL(ARM_SMCCC_FAST_CALL, ARM_SMCCC_SMC_64, \
				     ARM_SMCCC_OWNER_VENDOR_HYP, 0x8000 | (nr))
#define GH_HC_MSGQ_SEND GH_HC(0x1b)
#define GH_HC_MSGQ_RECV GH_HC(0x1c)
static_assert(GH_HC_MSGQ_SEND == 0xC600801B);
static_assert(GH_HC_MSGQ_RECV == 0xC600801C);

#define GH_MSGQ_SEND_PUSH BIT(0)

/* Gunyah error codes (hypervisor docs/api/gunyah_api.md). */
#define GH_ERROR_OK 0
#define GH_ERROR_MSGQUEUE_EMPTY 60
#define GH_ERROR_MSGQUEUE_FULL 61

#define GH_POOL_COMPATIBLE "gunyah,vm-memory-pool"

/* Bits of struct gunyah_host.flags. */
enum {
	GH_RX_READY, /* a packet may be waiting: set by the RX vIRQ or NotEmpty */
	GH_TX_READY, /* the TX queue may have room: set by the TX vIRQ or NotFull */
	GH_OPEN,     /* held by the one opener */
	GH_DEAD,     /* the driver was unbound; the fd only fails from now on */
};

struct gunyah_host {
	struct kref ref;
	struct device *dev;
	struct miscdevice misc;
	unsigned long flags;
	u64 tx_capid;
	u64 rx_capid;
	int tx_irq;
	int rx_irq;
	wait_queue_head_t rx_wq;
	wait_queue_head_t tx_wq;
	struct mutex rx_lock; /* rx_buf and the receive hypercall */
	struct mutex tx_lock; /* tx_buf and the send hypercall */
	phys_addr_t pool_base;
	phys_addr_t pool_size; /* 0: no pool */
	/* kmalloc'd (part of this object): the hypervisor copies through guest VAs */
	u8 rx_buf[GUNYAH_HOST_MSG_SIZE];
	u8 tx_buf[GUNYAH_HOST_MSG_SIZE];
};

static void gunyah_host_free(struct kref *ref)
{
	kfree(container_of(ref, struct gunyah_host, ref));
}

static unsigned long gh_msgq_send(struct gunyah_host *gh, size_t size, bool *not_full)
{
	struct arm_smccc_res res;

	arm_smccc_1_1_hvc(GH_HC_MSGQ_SEND, gh->tx_capid, size, (unsigned long)gh->tx_buf,
			  GH_MSGQ_SEND_PUSH, 0, &res);
	*not_full = res.a1;
	return res.a0;
}

static unsigned long gh_msgq_recv(struct gunyah_host *gh, size_t *size, bool *not_empty)
{
	struct arm_smccc_res res;

	arm_smccc_1_1_hvc(GH_HC_MSGQ_RECV, gh->rx_capid, (unsigned long)gh->rx_buf,
			  GUNYAH_HOST_MSG_SIZE, 0, &res);
	*size = res.a1;
	*not_empty = res.a2;
	return res.a0;
}

static irqreturn_t gh_rx_irq(int irq, void *data)
{
	struct gunyah_host *gh = data;

	set_bit(GH_RX_READY, &gh->flags);
	wake_up_interruptible_poll(&gh->rx_wq, EPOLLIN | EPOLLRDNORM);
	return IRQ_HANDLED;
}

static irqreturn_t gh_tx_irq(int irq, void *data)
{
	struct gunyah_host *gh = data;

	set_bit(GH_TX_READY, &gh->flags);
	wake_up_interruptible_poll(&gh->tx_wq, EPOLLOUT | EPOLLWRNORM);
	return IRQ_HANDLED;
}

static int gh_wait(struct gunyah_host *gh, wait_queue_head_t *wq, int bit)
{
	return wait_event_interruptible(*wq, test_bit(bit, &gh->flags) ||
					     test_bit(GH_DEAD, &gh->flags));
}

static ssize_t gh_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct gunyah_host *gh = file->private_data;
	unsigned long err;
	bool not_empty;
	size_t size;
	ssize_t ret;

	if (count < GUNYAH_HOST_MSG_SIZE)
		return -EINVAL;
	for (;;) {
		if (test_bit(GH_DEAD, &gh->flags))
			return -ENODEV;
		if (mutex_lock_interruptible(&gh->rx_lock))
			return -ERESTARTSYS;
		/* Clear before polling: a vIRQ from now on sets it again. */
		clear_bit(GH_RX_READY, &gh->flags);
		smp_mb__after_atomic();
		err = gh_msgq_recv(gh, &size, &not_empty);
		if (err == GH_ERROR_OK) {
			if (not_empty)
				set_bit(GH_RX_READY, &gh->flags);
			if (size == 0 || size > GUNYAH_HOST_MSG_SIZE)
				ret = -EIO;
			else if (copy_to_user(buf, gh->rx_buf, size))
				ret = -EFAULT;
			else
				ret = size;
			mutex_unlock(&gh->rx_lock);
			return ret;
		}
		mutex_unlock(&gh->rx_lock);
		if (err != GH_ERROR_MSGQUEUE_EMPTY) {
			dev_err_ratelimited(gh->dev, "msgqueue_receive: error %lu\n", err);
			return -EIO;
		}
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (gh_wait(gh, &gh->rx_wq, GH_RX_READY))
			return -ERESTARTSYS;
	}
}

static ssize_t gh_write(struct file *file, const char __user *buf, size_t count,
			loff_t *ppos)
{
	struct gunyah_host *gh = file->private_data;
	u8 packet[GUNYAH_HOST_MSG_SIZE];
	unsigned long err;
	bool not_full;

	if (count == 0 || count > GUNYAH_HOST_MSG_SIZE)
		return -EINVAL;
	if (copy_from_user(packet, buf, count))
		return -EFAULT;
	for (;;) {
		if (test_bit(GH_DEAD, &gh->flags))
			return -ENODEV;
		if (mutex_lock_interruptible(&gh->tx_lock))
			return -ERESTARTSYS;
		clear_bit(GH_TX_READY, &gh->flags);
		smp_mb__after_atomic();
		memcpy(gh->tx_buf, packet, count);
		err = gh_msgq_send(gh, count, &not_full);
		if (err == GH_ERROR_OK && not_full)
			set_bit(GH_TX_READY, &gh->flags);
		mutex_unlock(&gh->tx_lock);
		if (err == GH_ERROR_OK)
			return count;
		if (err != GH_ERROR_MSGQUEUE_FULL) {
			dev_err_ratelimited(gh->dev, "msgqueue_send: error %lu\n", err);
			return -EIO;
		}
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (gh_wait(gh, &gh->tx_wq, GH_TX_READY))
			return -ERESTARTSYS;
	}
}

static __poll_t gh_poll(struct file *file, poll_table *wait)
{
	struct gunyah_host *gh = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &gh->rx_wq, wait);
	poll_wait(file, &gh->tx_wq, wait);
	if (test_bit(GH_DEAD, &gh->flags))
		return EPOLLERR | EPOLLHUP;
	if (test_bit(GH_RX_READY, &gh->flags))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (test_bit(GH_TX_READY, &gh->flags))
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

static long gh_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct gunyah_host *gh = file->private_data;
	struct gunyah_host_pool pool = {};

	switch (cmd) {
	case GUNYAH_HOST_GET_POOL:
		if (!gh->pool_size)
			return -ENODEV;
		pool.ipa_base = gh->pool_base;
		pool.size = gh->pool_size;
		pool.api_version = GUNYAH_HOST_API_VERSION;
		pool.page_size = PAGE_SIZE;
		if (copy_to_user((void __user *)arg, &pool, sizeof(pool)))
			return -EFAULT;
		return 0;
	default:
		return -ENOTTY;
	}
}

static int gh_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct gunyah_host *gh = file->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned long pool_pages = gh->pool_size >> PAGE_SHIFT;

	if (!gh->pool_size)
		return -ENODEV;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff >= pool_pages || (len >> PAGE_SHIFT) > pool_pages - vma->vm_pgoff)
		return -EINVAL;
	/* Ordinary RAM the kernel never maps itself (no-map): keep it cacheable. */
	return remap_pfn_range(vma, vma->vm_start, PHYS_PFN(gh->pool_base) + vma->vm_pgoff,
			       len, vma->vm_page_prot);
}

static int gh_open(struct inode *inode, struct file *file)
{
	/* misc_open() set private_data to our miscdevice, under misc_mtx: the device is
	 * registered, so not yet torn down. */
	struct gunyah_host *gh = container_of(file->private_data, struct gunyah_host, misc);

	if (test_bit(GH_DEAD, &gh->flags))
		return -ENODEV;
	if (test_and_set_bit(GH_OPEN, &gh->flags))
		return -EBUSY;
	kref_get(&gh->ref);
	/* A new owner drains whatever the RM queued before it: at worst one EAGAIN. */
	set_bit(GH_RX_READY, &gh->flags);
	set_bit(GH_TX_READY, &gh->flags);
	file->private_data = gh;
	return stream_open(inode, file);
}

static int gh_release(struct inode *inode, struct file *file)
{
	struct gunyah_host *gh = file->private_data;

	clear_bit(GH_OPEN, &gh->flags);
	kref_put(&gh->ref, gunyah_host_free);
	return 0;
}

static const struct file_operations gh_fops = {
	.owner = THIS_MODULE,
	.open = gh_open,
	.release = gh_release,
	.read = gh_read,
	.write = gh_write,
	.poll = gh_poll,
	.unlocked_ioctl = gh_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = gh_mmap,
	.llseek = no_llseek,
};

/* The pool is optional: without one the RM link still works and the ioctl says ENODEV. */
static int gh_probe_pool(struct gunyah_host *gh)
{
	struct device_node *np;
	struct reserved_mem *rmem;
	int ret = 0;

	np = of_find_compatible_node(NULL, NULL, GH_POOL_COMPATIBLE);
	if (!np || !of_device_is_available(np))
		goto out;
	rmem = of_reserved_mem_lookup(np);
	if (!rmem) {
		dev_err(gh->dev, "%pOF: not a /reserved-memory region with a static reg\n", np);
		ret = -EINVAL;
	} else if (!of_property_read_bool(np, "no-map")) {
		dev_err(gh->dev, "%pOF: needs no-map (lent pages leave the host's stage 2)\n", np);
		ret = -EINVAL;
	} else if (!rmem->size || !PAGE_ALIGNED(rmem->base) || !PAGE_ALIGNED(rmem->size)) {
		dev_err(gh->dev, "%pOF: base and size must be page aligned and non-zero\n", np);
		ret = -EINVAL;
	} else {
		gh->pool_base = rmem->base;
		gh->pool_size = rmem->size;
	}
out:
	of_node_put(np);
	return ret;
}

static int gh_probe(struct platform_device *pdev)
{
	struct device_node *np = pdev->dev.of_node;
	struct gunyah_host *gh;
	int ret;

	/* Hypercalls go to a hypervisor below us; a kernel running at EL2 has none. */
	if (is_kernel_in_hyp_mode())
		return -ENODEV;
	gh = kzalloc(sizeof(*gh), GFP_KERNEL);
	if (!gh)
		return -ENOMEM;
	kref_init(&gh->ref);
	gh->dev = &pdev->dev;
	init_waitqueue_head(&gh->rx_wq);
	init_waitqueue_head(&gh->tx_wq);
	mutex_init(&gh->rx_lock);
	mutex_init(&gh->tx_lock);

	ret = of_property_read_u64_index(np, "reg", 0, &gh->tx_capid);
	if (!ret)
		ret = of_property_read_u64_index(np, "reg", 1, &gh->rx_capid);
	if (ret) {
		dev_err(&pdev->dev, "reg must hold two u64 capids (TX, RX): %d\n", ret);
		goto err_free;
	}
	gh->tx_irq = platform_get_irq(pdev, 0);
	if (gh->tx_irq < 0) {
		ret = gh->tx_irq;
		goto err_free;
	}
	gh->rx_irq = platform_get_irq(pdev, 1);
	if (gh->rx_irq < 0) {
		ret = gh->rx_irq;
		goto err_free;
	}
	ret = gh_probe_pool(gh);
	if (ret)
		goto err_free;

	ret = request_irq(gh->tx_irq, gh_tx_irq, 0, "gunyah-rm-tx", gh);
	if (ret)
		goto err_free;
	ret = request_irq(gh->rx_irq, gh_rx_irq, 0, "gunyah-rm-rx", gh);
	if (ret)
		goto err_tx_irq;

	gh->misc.minor = MISC_DYNAMIC_MINOR;
	gh->misc.name = "gunyah";
	gh->misc.fops = &gh_fops;
	gh->misc.parent = &pdev->dev;
	gh->misc.mode = 0600;
	ret = misc_register(&gh->misc);
	if (ret)
		goto err_rx_irq;

	platform_set_drvdata(pdev, gh);
	if (gh->pool_size)
		dev_info(&pdev->dev, "tx cap %#llx irq %d, rx cap %#llx irq %d, pool %pa size %pa\n",
			 gh->tx_capid, gh->tx_irq, gh->rx_capid, gh->rx_irq, &gh->pool_base,
			 &gh->pool_size);
	else
		dev_info(&pdev->dev, "tx cap %#llx irq %d, rx cap %#llx irq %d, no VM memory pool\n",
			 gh->tx_capid, gh->tx_irq, gh->rx_capid, gh->rx_irq);
	return 0;

err_rx_irq:
	free_irq(gh->rx_irq, gh);
err_tx_irq:
	free_irq(gh->tx_irq, gh);
err_free:
	kref_put(&gh->ref, gunyah_host_free);
	return ret;
}

static int gh_remove(struct platform_device *pdev)
{
	struct gunyah_host *gh = platform_get_drvdata(pdev);

	misc_deregister(&gh->misc); /* no new opens; an open fd keeps gh alive */
	set_bit(GH_DEAD, &gh->flags);
	wake_up_interruptible_all(&gh->rx_wq);
	wake_up_interruptible_all(&gh->tx_wq);
	free_irq(gh->rx_irq, gh);
	free_irq(gh->tx_irq, gh);
	kref_put(&gh->ref, gunyah_host_free);
	return 0;
}

static const struct of_device_id gh_of_match[] = {
	{ .compatible = "gunyah-resource-manager" },
	{ .compatible = "qcom,resource-manager-1-0" },
	{}
};
MODULE_DEVICE_TABLE(of, gh_of_match);

static struct platform_driver gh_driver = {
	.probe = gh_probe,
	.remove = gh_remove,
	.driver = {
		.name = "gunyah-host",
		.of_match_table = gh_of_match,
	},
};
module_platform_driver(gh_driver);

MODULE_DESCRIPTION("Gunyah RM message-queue link and VM memory pool for gunyahd");
MODULE_LICENSE("GPL");
