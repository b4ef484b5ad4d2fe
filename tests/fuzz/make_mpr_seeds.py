#!/usr/bin/env python3
"""Write the two seed files of corpus/mpr/ (BioLogic EC-Lab binary .mpr).

The layout, as the real files under ../shared/data/real/eclab/ show it: a
file header ("BIO-LOGIC MODULAR FILE", 0x1a, blanks to byte 48, four zero
bytes), then modules, each "MODULE", a short name (10 bytes) and a long
name (25 bytes) padded with blanks, the length of its data (u32), a
version (u32) and a date (8 bytes), then the data.  "VMP Set" starts with
the technique's id; "VMP data" (version 3) holds the number of points
(u32), the number of columns (u8), the columns' ids (u16 each) and, from
byte 0x196 of its data, the rows (flags packed into one byte, time/s a
double, the rest float32).  Run it from this directory to regenerate.
"""
import struct

FILE_HEADER = b"BIO-LOGIC MODULAR FILE\x1a".ljust(48, b" ") + b"\0" * 4


def module(short, long_, version, data):
    return (b"MODULE" + short.ljust(10, b" ") + long_.ljust(25, b" ")
            + struct.pack("<II", len(data), version) + b"01/02/26" + data)


def data_module(ids, rowfmt, rows):
    head = struct.pack("<IB", len(rows), len(ids)) + struct.pack(
        "<%dH" % len(ids), *ids)
    body = b"".join(struct.pack(rowfmt, *r) for r in rows)
    return module(b"VMP data", b"VMP data", 3, head.ljust(0x196, b"\0") + body)


def settings(technique):
    return module(b"VMP Set", b"VMP settings", 0,
                  bytes([technique]) + b"\0" * 63)


# PEIS (technique 0x1d): freq/Hz (32), Re(Z)/Ohm (37), -Im(Z)/Ohm (38) as
# float32, time/s (4) as a double
peis = FILE_HEADER + settings(0x1d) + data_module(
    [32, 37, 38, 4], "<fffd",
    [(1000.0, 10.5, 1.5, 1.0), (100.0, 12.0, 4.0, 2.0), (10.0, 20.0, 9.0, 3.0)])
# OCV (technique 11): flags (1, 3) in one byte, time/s (4), Ewe/V (6)
ocv = FILE_HEADER + settings(11) + data_module(
    [1, 3, 4, 6], "<Bdf",
    [(0, 0.0, 2.70), (0, 10.0, 2.69), (0, 20.0, 2.68), (0, 30.0, 2.675)])

for name, data in (("peis.mpr", peis), ("ocv.mpr", ocv)):
    with open("corpus/mpr/" + name, "wb") as f:
        f.write(data)
