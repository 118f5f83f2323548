// Finding a repeated column name within one row, cheaply for narrow rows.
//
// Names are compared in their escaped form as written between the quotes:
// the format doubles every embedded quote, so two raw names are equal exactly
// when the names they stand for are equal.
//
// Rows of up to `pairwiseLimit` columns keep a 64-bit filter: one bit per
// name, picked by a multiply from a key of its first and last two bytes and
// its length (the scanner's `nameKey`). A name whose bit is still clear is new, with no
// comparison at all; that is most names of a narrow row. Only when the bit is
// already set is the name compared with each earlier one, length then bytes.
// Wider rows switch to an open-addressing table over a cheap fingerprint of each
// name, in caller-provided (stack) memory up to `stackCapacity` names and on
// the heap beyond that.

/// One name seen so far: where its raw bytes are and a fingerprint of them
/// (computed only once the row is wide enough to need the table).
struct NameEntry {
    var start: UInt32
    var length: UInt32
    var fingerprint: UInt32
}

/// Remembers the names of one row and reports the first one that repeats.
struct DuplicateNameCheck {
    /// Up to this many names, compare pairwise.
    static let pairwiseLimit = 16
    /// Names kept in caller-provided memory (64 × 12 bytes, so that the stack
    /// allocation stays under the 1 KiB that needs no stack-space check).
    static let stackCapacity = 64
    /// Slots of the stack table: twice the names, a power of two.
    static let stackSlots = 128

    // Plain pointers, no counts: the capacities are the constants above, and
    // every word less is a register more for the scanner that holds the check.
    private let entries: UnsafeMutablePointer<NameEntry>
    private let slots: UnsafeMutablePointer<Int16>
    /// One bit per name seen in the pairwise part (see `filterBit`).
    private var seenKeys: UInt64 = 0
    /// Held unmanaged so that the check (and the scanner holding it) stays a
    /// trivial type, cheap to move; `release()` frees it.
    private var overflow: Unmanaged<Overflow>?

    /// `entries` must hold `stackCapacity` names and `slots` `stackSlots`
    /// slots (a power of two); both may be uninitialized.
    init(entries: UnsafeMutableBufferPointer<NameEntry>, slots: UnsafeMutableBufferPointer<Int16>) {
        assert(entries.count >= Self.stackCapacity && slots.count == Self.stackSlots)
        self.entries = entries.baseAddress.unsafelyUnwrapped
        self.slots = slots.baseAddress.unsafelyUnwrapped
    }

    /// Records the raw name at `base[start..<start + length]` (offsets below 2^31) and
    /// returns false if the row already had it. `key` is the scanner's
    /// `nameKey`: equal names have equal keys. `count` is the number of names
    /// recorded so far (the scanner's column index: the check does not keep
    /// its own, one register less in the scanner's loop).
    @inline(__always)
    mutating func insert(start: Int, length: Int, key: UInt64, in base: UnsafeRawPointer, count: Int) -> Bool {
        if count < Self.pairwiseLimit {
            let bit = Self.filterBit(key)
            if seenKeys & bit != 0 {
                var index = 0
                while index < count {
                    if Int(entries[index].length) == length,
                        memoryEqual(base + Int(entries[index].start), base + start, length)
                    {
                        return false
                    }
                    index &+= 1
                }
            }
            seenKeys |= bit
            // The fingerprint is left unset: `buildTable` computes it if needed.
            entries[count].start = UInt32(truncatingIfNeeded: start)
            entries[count].length = UInt32(truncatingIfNeeded: length)
            return true
        }
        // Out of line and not `mutating`: the check, inlined into the scanner,
        // must never need an address (see ScannedRow.swift).
        let wide = Self.insertWide(
            start: start, length: length, in: base, entries: entries, slots: slots, count: count, overflow: overflow)
        overflow = wide.overflow
        return wide.inserted
    }

    /// The filter bit of `key`: the top six bits of a multiplicative hash.
    @inline(__always)
    private static func filterBit(_ key: UInt64) -> UInt64 {
        1 &<< ((key &* 0x9E37_79B9_7F4A_7C15) &>> 58)
    }

    /// `insert` past `pairwiseLimit` names: returns whether the name was new
    /// and the check's new `overflow`.
    @inline(never)
    private static func insertWide(
        start: Int, length: Int, in base: UnsafeRawPointer, entries: UnsafeMutablePointer<NameEntry>,
        slots: UnsafeMutablePointer<Int16>, count: Int, overflow: Unmanaged<Overflow>?
    ) -> (inserted: Bool, overflow: Unmanaged<Overflow>?) {
        let entry = NameEntry(
            start: UInt32(start), length: UInt32(length), fingerprint: nameFingerprint(base, start, length))
        if let overflow {
            return (overflow.takeUnretainedValue().insert(entry, base: base), overflow)
        }
        if count == pairwiseLimit {
            buildTable(in: base, entries: entries, count: count, slots: slots)
        }
        if count == stackCapacity {
            let spilled = Overflow(entries: UnsafeBufferPointer(start: entries, count: count))
            return (spilled.insert(entry, base: base), Unmanaged.passRetained(spilled))
        }
        let mask = stackSlots - 1
        var slot = Int(entry.fingerprint) & mask
        while true {
            let occupant = Int(slots[slot])
            if occupant < 0 {
                slots[slot] = Int16(count)
                entries[count] = entry
                return (true, nil)
            }
            if sameName(entries[occupant], entry, base: base) {
                return (false, nil)
            }
            slot = (slot + 1) & mask
        }
    }

    /// Frees the heap table, if the row needed one.
    func release() {
        overflow?.release()
    }

    /// Fingerprints the first `count` names and files them in the stack table.
    private static func buildTable(
        in base: UnsafeRawPointer, entries: UnsafeMutablePointer<NameEntry>, count: Int,
        slots: UnsafeMutablePointer<Int16>
    ) {
        slots.update(repeating: -1, count: stackSlots)
        let mask = stackSlots - 1
        for index in 0..<count {
            entries[index].fingerprint = nameFingerprint(base, Int(entries[index].start), Int(entries[index].length))
            var slot = Int(entries[index].fingerprint) & mask
            while slots[slot] >= 0 {
                slot = (slot + 1) & mask
            }
            slots[slot] = Int16(index)
        }
    }
}

@inline(__always)
private func sameName(_ old: NameEntry, _ new: NameEntry, base: UnsafeRawPointer) -> Bool {
    old.length == new.length && old.fingerprint == new.fingerprint
        && memoryEqual(base + Int(old.start), base + Int(new.start), Int(new.length))
}

/// The heap-backed table for rows wider than the stack part holds.
private final class Overflow {
    var entries: [NameEntry]
    var slots: [Int32]

    init(entries existing: UnsafeBufferPointer<NameEntry>) {
        entries = Array(existing)
        slots = []
        rebuild(slotCount: 4 * DuplicateNameCheck.stackCapacity)
    }

    func insert(_ entry: NameEntry, base: UnsafeRawPointer) -> Bool {
        let mask = slots.count - 1
        var slot = Int(entry.fingerprint) & mask
        while true {
            let occupant = slots[slot]
            if occupant < 0 {
                break
            }
            if sameName(entries[Int(occupant)], entry, base: base) {
                return false
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = Int32(entries.count)
        entries.append(entry)
        if entries.count * 2 > slots.count {
            rebuild(slotCount: slots.count * 2)
        }
        return true
    }

    private func rebuild(slotCount: Int) {
        slots = Array(repeating: -1, count: slotCount)
        let mask = slotCount - 1
        for (index, entry) in entries.enumerated() {
            var slot = Int(entry.fingerprint) & mask
            while slots[slot] >= 0 {
                slot = (slot + 1) & mask
            }
            slots[slot] = Int32(index)
        }
    }
}

/// A cheap 32-bit mix of a name's length and its first and last (up to) eight bytes.
/// Not a full hash: names that differ only in the middle collide, and the byte
/// comparison after it settles them.
func nameFingerprint(_ base: UnsafeRawPointer, _ start: Int, _ length: Int) -> UInt32 {
    var head: UInt64 = 0
    var tail: UInt64 = 0
    if length >= 8 {
        head = base.loadUnaligned(fromByteOffset: start, as: UInt64.self)
        tail = base.loadUnaligned(fromByteOffset: start + length - 8, as: UInt64.self)
    } else {
        var index = 0
        while index < length {
            head = head << 8 | UInt64(loadByte(base, start + index))
            index += 1
        }
    }
    let mixed = (head ^ (tail << 29 | tail >> 35) ^ UInt64(truncatingIfNeeded: length)) &* 0x9E37_79B9_7F4A_7C15
    return UInt32(truncatingIfNeeded: mixed >> 32)
}
