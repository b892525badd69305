// CacheFullException.java: the KV cache has no free block left.
package dev.mola;

public class CacheFullException extends MolaException {
    private static final long serialVersionUID = 1L;

    public CacheFullException(String message) {
        super(message, STATUS_CACHE_FULL);
    }
}
