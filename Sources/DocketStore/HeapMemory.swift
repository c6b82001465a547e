import Glibc

/// glibc's malloc, beyond malloc and free. Swift's Glibc module does not import malloc.h, so
/// the function is looked up at run time; on a C library without it, it does nothing.
public enum HeapMemory {
    /// Gives back to the system every whole page of the heaps that holds no live block.
    /// Returns false when the C library has no `malloc_trim`.
    @discardableResult
    public static func trim() -> Bool {
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(nil, "malloc_trim") else { return false }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        return true
    }
}
