#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of fuzz-rm-decoders and fuzz-rm-reassembly.

Every payload is laid out here by hand from rm-protocol.md's offset tables (never produced by
our C encoder). fuzz-rm-decoders: byte 0 selects the decoder (index into the table of
tests/fuzz/fuzz-rm-decoders.c), the rest is the payload. fuzz-rm-reassembly: a sequence of
packets, each a 1-byte length then that many bytes.

Run from anywhere: python3 tests/vectors/make-fuzz-corpus.py
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus")

# Decoder indices, in the order of decoders[] in fuzz-rm-decoders.c.
(VMID_LAX, VMID_STRICT, ALLOC_REPLY, VM_STOP, CONFIG_IMAGE, GET_STATE, GET_VMID, HYP_RES,
 CRASH_MSG, BOOT_CTX, DEMAND_PAGING, ADDR_LAYOUT, MEM_CREATE, MEM_CREATE_REPLY, MEM_APPEND,
 MEM_ACCEPT, MEM_ACCEPT_REPLY, MEM_HANDLE_REQ, MEM_NOTIFY, N_VM_STATUS, N_VM_EXITED,
 N_VM_SHUTDOWN, N_MEM_OWNER, N_MEM_RECALL, N_MEM_SHARED, N_SIM_FAULT, REPLY_LIST) = range(27)

u8 = lambda v: struct.pack("<B", v)
u16 = lambda v: struct.pack("<H", v)
u32 = lambda v: struct.pack("<I", v)
u64 = lambda v: struct.pack("<Q", v)


def lst(entries):
    return u16(len(entries)) + u16(0) + b"".join(entries)


acl = lambda vmid, rights: u16(vmid) + u8(rights) + u8(0)
sgl = lambda ipa, size: u64(ipa) + u64(size)
attr = lambda a, vmid: u16(a) + u16(vmid)

hyp_entry = (u8(4) + u8(0) + u16(0x80) + u32(0) + u32(1) + u32(7) + u32(5) + u32(0) + u32(0x20)
             + u64(0x12345000) + u64(0x1000))
lend = u8(0) + u8(0) + u8(0) + u8(0) + u32(0) + lst([acl(0x80, 7)]) + \
    lst([sgl(0x80000000, 0x200000)]) + lst([])
share = u8(1) + u8(0) + u8(1) + u8(0) + u32(0x1234) + lst([acl(3, 6), acl(0x81, 4)]) + \
    lst([sgl(0x1000, 0x1000)]) + lst([attr(1, 3), attr(1, 0x81)])
accept = u32(5) + u8(0) + u8(1) + u8(0x92) + u8(0) + u32(0) + lst([acl(0x80, 7)]) + \
    u16(1) + u16(0) + sgl(0x28800000, 0x200000) + lst([])
shared = (u32(5) + u8(0) + u8(2) + u8(1) + u8(0) + u16(3) + u16(0) + u32(0x1234) + u32(0x10)
          + lst([acl(3, 7), acl(0x80, 6)]) + u16(2) + u16(0) + u64(0x200000) + u64(0x1000)
          + lst([attr(0, 0x80)]))

decoders = {
    "vmid-req": (VMID_LAX, u16(0x80) + u16(0)),
    "vmid-req-short": (VMID_LAX, u16(0x80)),
    "vm-init-res": (VMID_STRICT, u16(0x80) + u16(1)),
    "vm-init": (VMID_STRICT, u16(0x80) + u16(0)),
    "alloc-reply": (ALLOC_REPLY, u32(0x81)),
    "alloc-reply-big": (ALLOC_REPLY, u32(0x10000)),
    "vm-stop": (VM_STOP, u16(0x80) + u8(1) + u8(0) + u32(3)),
    "config-image": (CONFIG_IMAGE, u16(0x81) + u16(2) + u32(0x11223344) + u64(0x1000)
                     + u64(0x200000) + u64(0x300000) + u64(0x2345)),
    "get-state": (GET_STATE, u8(3) + u8(4) + u16(1)),
    "get-vmid-req": (GET_VMID, b""),
    "get-vmid-reply": (GET_VMID, u32(3)),
    "hyp-res-1": (HYP_RES, u32(1) + hyp_entry),
    "hyp-res-2": (HYP_RES, u32(2) + hyp_entry + hyp_entry),
    "hyp-res-mismatch": (HYP_RES, u32(3) + hyp_entry),
    "hyp-res-0": (HYP_RES, u32(0)),
    "crash-hello": (CRASH_MSG, u16(5) + u16(0) + b"hello\0\0\0"),
    "crash-empty": (CRASH_MSG, u16(0) + u16(0)),
    "crash-192": (CRASH_MSG, u16(192) + u16(0) + b"x" * 192),
    "boot-ctx-pc": (BOOT_CTX, u16(0x80) + u8(1) + u8(0) + u32(0) + u64(0x80000000)),
    "demand-paging": (DEMAND_PAGING, u16(0x80) + u16(0) + u32(2) + u64(0x40000000)
                      + u64(0x10000000) + u64(1 << 32) + u64(0x200000)),
    "addr-layout": (ADDR_LAYOUT, u16(0x80) + u16(0) + u32(0) + u64(0x80000000) + u64(0x200000)),
    "mem-lend": (MEM_CREATE, lend),
    "mem-lend-no-attr": (MEM_CREATE, lend[:-4]),
    "mem-share-attrs": (MEM_CREATE, share),
    "mem-create-513": (MEM_CREATE, lend[:8] + u16(513) + u16(0) + lend[12:]),
    "mem-create-min": (MEM_CREATE, bytes(20)),
    "mem-create-reply": (MEM_CREATE_REPLY, u32(0)),
    "mem-append": (MEM_APPEND, u32(0x2a) + u8(1) + bytes(3) + lst([sgl(0x2000, 0x1000)])),
    "mem-accept": (MEM_ACCEPT, accept),
    "mem-accept-min": (MEM_ACCEPT, u32(9) + bytes(20)),
    "mem-accept-reply": (MEM_ACCEPT_REPLY, u16(1) + u8(1) + u8(0) + sgl(0x28800000, 0x200000)),
    "mem-release": (MEM_HANDLE_REQ, u32(5) + u8(1) + bytes(3)),
    "mem-notify-shared": (MEM_NOTIFY, u32(5) + u8(1) + bytes(3) + u32(0x10)
                          + u16(2) + u16(0) + u16(0x80) + u16(0) + u16(0x81) + u16(0)),
    "mem-notify-released": (MEM_NOTIFY, u32(5) + u8(2) + bytes(3) + u32(0x10)),
    "mem-notify-recall-short": (MEM_NOTIFY, u32(5) + u8(8) + bytes(3) + u32(0x10)),
    "vm-status": (N_VM_STATUS, u16(0x80) + u16(0) + u8(3) + u8(4) + u16(0)),
    "vm-exited-force": (N_VM_EXITED, u16(0x80) + u16(7) + u32(4) + u32(0)),
    "vm-exited-restart": (N_VM_EXITED, u16(0x81) + u16(0) + u32(4) + u32(0x00010001)),
    "vm-exited-reset2": (N_VM_EXITED, u16(0x82) + u16(3) + u32(16) + u32(0x8000)
                         + u32(0x80000001) + u32(0xdeadbeef) + u32(0x12345678)),
    "vm-exited-too-big": (N_VM_EXITED, u16(0x82) + u16(3) + u32(20) + bytes(20)),
    "vm-shutdown": (N_VM_SHUTDOWN, u32(1)),
    "mem-released": (N_MEM_OWNER, u32(5) + u16(0x80) + u16(0) + u32(0x10)),
    "mem-recall": (N_MEM_RECALL, u32(5) + u32(0x10)),
    "mem-shared": (N_MEM_SHARED, shared),
    "sim-fault": (N_SIM_FAULT, u16(0x80) + u16(0) + u32(1) + u64(0x80001000)),
    "reply-vm-state": (REPLY_LIST, u32(0x14)),
    "reply-list": (REPLY_LIST, u16(2) + u16(0) + bytes(8)),
}


def hdr(type_, nf, seq, msg_id):
    return bytes([0x21, (nf << 2) | type_]) + u16(seq) + u32(msg_id)


def packets(*pkts):
    out = b""
    for p in pkts:
        assert len(p) <= 255
        out += bytes([len(p)]) + p
    return out


def split(type_, seq, msg_id, payload):
    """Section 4.1 sender rules, written out independently of rm_packet_build()."""
    nf = 0 if len(payload) <= 232 else (len(payload) + 231) // 232 - 1
    return [hdr(type_ if i == 0 else 0, nf, seq, msg_id) + payload[232 * i:232 * (i + 1)]
            for i in range(nf + 1)]


big = bytes((i * 7) & 0xff for i in range(600))
reassembly = {
    "vm-start-req": packets(bytes.fromhex("210105000400005680000000")),
    "vm-start-reply": packets(bytes.fromhex("210205000400005600000000")),
    "three-packets": packets(*split(1, 0x102, 0x51000013, big)),
    "new-aborts": packets(*split(1, 1, 0x51000012, big)[:2], *split(2, 2, 0x56000004, big)),
    "stray": packets(hdr(0, 1, 1, 0x51000012) + bytes(10)),
    "mismatch-id": packets(*split(1, 10, 0x51000013, big)[:2], hdr(0, 2, 10, 0x51000012) + b"x",
                           split(1, 10, 0x51000013, big)[2]),
    "mismatch-nf": packets(*split(1, 10, 0x51000013, big)[:2], hdr(0, 3, 10, 0x51000013) + b"x",
                           split(1, 10, 0x51000013, big)[2]),
    "mismatch-seq": packets(*split(1, 10, 0x51000013, big)[:2], hdr(0, 2, 11, 0x51000013) + b"x",
                            split(1, 10, 0x51000013, big)[2]),
    "nf-62-63": packets(hdr(1, 62, 1, 1) + bytes(232), hdr(1, 63, 1, 1) + bytes(232),
                        hdr(0, 62, 1, 1) + bytes(232)),
    "short-packets": packets(b"", b"\x21", b"\x21\x01\x00", hdr(1, 1, 1, 1)[:7],
                             hdr(1, 1, 1, 1) + bytes(4), hdr(0, 1, 1, 1)),
    "bad-version": packets(hdr(1, 1, 1, 1), bytes([0x31, 0x00]) + bytes(6),
                           bytes([0x22, 0x00]) + bytes(6), hdr(0, 1, 1, 1) + b"ok"),
    "oversize": packets(hdr(1, 1, 1, 1) + bytes(232), hdr(0, 1, 1, 1) + bytes(247)),
    "notification": packets(hdr(3, 0, 0, 0x56100008) + u16(0x80) + u16(0) + bytes([3, 4, 0, 0])),
    "empty-payload": packets(hdr(1, 0, 7, 0x56000024)),
    "full-63": packets(*split(2, 77, 0x56000020, bytes(i & 0xff for i in range(14616)))),
    "complete-then-stray": packets(*split(1, 3, 0x51000012, big), hdr(0, 2, 3, 0x51000012)),
    "notif-mid-reply": packets(split(2, 4, 0x56000020, big)[0],
                               hdr(3, 0, 0, 0x56100008) + bytes(8),
                               *split(2, 4, 0x56000020, big)[1:]),
    "header-only-cont": packets(hdr(1, 2, 1, 1) + b"a", hdr(0, 2, 1, 1), hdr(0, 2, 1, 1) + b"b"),
    "reply-error-only": packets(hdr(2, 0, 9, 0x56000001) + u32(0x14)),
    "two-singles": packets(bytes.fromhex("210105000400005680000000"),
                           bytes.fromhex("210205000400005600000000")),
    "nf-62-max-short": packets(hdr(1, 62, 1, 1), *[hdr(0, 62, 1, 1) + b"z"] * 62),
    "restart-same-id": packets(*split(1, 5, 0x51000018, big)[:2], *split(1, 5, 0x51000018, big)),
}


def write(target, items):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for name, data in items.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("fuzz-rm-decoders", {k: bytes([i]) + p for k, (i, p) in decoders.items()})
write("fuzz-rm-reassembly", reassembly)
