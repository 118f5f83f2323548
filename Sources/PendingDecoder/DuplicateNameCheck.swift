// Finding a repeated column name within one row without hashing every row.
//
// Names are compared in their escaped form as written between the quotes:
// the format doubles every embedded quote, so two raw names are equal exactly
// when the names they stand for are equal.
//
// Rows of up to `pairwiseLimit` columns compare each new name with the earlier
// ones (length and a cheap fingerprint first, bytes only on a match). Wider rows
// switch to an open-addressing table over the fingerprints, in caller-provided
// (stack) memory up to `stackCapacity` names and on the heap beyond that.

/// One name seen so far: where its raw bytes are and a fingerprint of them.
struct NameEntry {
    var start: Int
    var length: Int
    var fingerprint: UInt32
}

/// Remembers the names of one row and reports the first one that repeats.
struct DuplicateNameCheck {
    /// Up to this many names, compare pairwise.
    static let pairwiseLimit = 16
    /// Names kept in caller-provided memory; the table holds twice as many slots.
    static let stackCapacity = 128

    private let base: UnsafeRawPointer
    private let entries: UnsafeMutableBufferPointer<NameEntry>
    private let slots: UnsafeMutableBufferPointer<Int32>
    private var count = 0
    private var overflow: Overflow?

    /// `entries` must hold `stackCapacity` names and `slots` `2 * stackCapacity` slots;
    /// both stay uninitialized until needed.
    init(
        base: UnsafeRawPointer,
        entries: UnsafeMutableBufferPointer<NameEntry>,
        slots: UnsafeMutableBufferPointer<Int32>
    ) {
        self.base = base
        self.entries = entries
        self.slots = slots
    }

    /// Records the raw name at `start..<start + length` and returns false if the row
    /// already had it.
    mutating func insert(start: Int, length: Int) -> Bool {
        let entry = NameEntry(start: start, length: length, fingerprint: fingerprint(start, length))
        if var overflow {
            self.overflow = nil
            defer { self.overflow = overflow }
            return overflow.insert(entry, base: base)
        }
        if count < Self.pairwiseLimit {
            var index = 0
            while index < count {
                if matches(entries[index], entry) {
                    return false
                }
                index += 1
            }
            entries[count] = entry
            count += 1
            if count == Self.pairwiseLimit {
                buildTable()
            }
            return true
        }
        if count == Self.stackCapacity {
            var spilled = Overflow(entries: UnsafeBufferPointer(rebasing: entries[0..<count]), base: base)
            let inserted = spilled.insert(entry, base: base)
            overflow = spilled
            return inserted
        }
        let mask = slots.count - 1
        var slot = Int(entry.fingerprint) & mask
        while true {
            let occupant = slots[slot]
            if occupant < 0 {
                slots[slot] = Int32(count)
                entries[count] = entry
                count += 1
                return true
            }
            if matches(entries[Int(occupant)], entry) {
                return false
            }
            slot = (slot + 1) & mask
        }
    }

    private mutating func buildTable() {
        slots.update(repeating: -1)
        let mask = slots.count - 1
        for index in 0..<count {
            var slot = Int(entries[index].fingerprint) & mask
            while slots[slot] >= 0 {
                slot = (slot + 1) & mask
            }
            slots[slot] = Int32(index)
        }
    }

    private func matches(_ old: NameEntry, _ new: NameEntry) -> Bool {
        old.length == new.length && old.fingerprint == new.fingerprint
            && memoryEqual(base + old.start, base + new.start, new.length)
    }

    private func fingerprint(_ start: Int, _ length: Int) -> UInt32 {
        nameFingerprint(base, start, length)
    }
}

/// The heap-backed table for rows wider than the stack part holds.
private struct Overflow {
    var entries: [NameEntry]
    var slots: [Int32]

    init(entries existing: UnsafeBufferPointer<NameEntry>, base: UnsafeRawPointer) {
        entries = Array(existing)
        slots = []
        rebuild(slotCount: 4 * DuplicateNameCheck.stackCapacity)
    }

    mutating func insert(_ entry: NameEntry, base: UnsafeRawPointer) -> Bool {
        let mask = slots.count - 1
        var slot = Int(entry.fingerprint) & mask
        while true {
            let occupant = slots[slot]
            if occupant < 0 {
                break
            }
            let old = entries[Int(occupant)]
            if old.length == entry.length, old.fingerprint == entry.fingerprint,
                memoryEqual(base + old.start, base + entry.start, entry.length)
            {
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

    private mutating func rebuild(slotCount: Int) {
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
@inline(__always)
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

/// Whether `length` bytes at `a` equal those at `b`.
@inline(__always)
func memoryEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ length: Int) -> Bool {
    UnsafeRawBufferPointer(start: a, count: length).elementsEqual(UnsafeRawBufferPointer(start: b, count: length))
}
