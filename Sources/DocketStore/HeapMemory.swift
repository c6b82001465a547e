import Glibc

/// glibc's malloc tuning. Swift's Glibc module does not import malloc.h, so the two functions
/// are looked up at run time; on a C library without them both do nothing.
public enum HeapMemory {
    /// mallopt(3)'s M_MMAP_THRESHOLD.
    private static let mmapThreshold: Int32 = -3

    /// Serves blocks of `bytes` and more from mappings of their own, which go back to the
    /// system when freed, and keeps glibc from raising that threshold by itself. Without this,
    /// freeing a large block raises the threshold to its size (up to 32 MiB), and from then on
    /// blocks that size come from the heap, where freed ones stay as holes.
    @discardableResult
    public static func mapBlocks(ofAtLeast bytes: Int) -> Bool {
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        return unsafeBitCast(symbol, to: Mallopt.self)(mmapThreshold, Int32(clamping: bytes)) == 1
    }

    /// Gives back to the system every whole page of the heaps that holds no live block.
    public static func trim() {
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    }
}
