// ModelInfo.java: what a loaded checkpoint is (architecture, sizes, special tokens).
package dev.mola;

public record ModelInfo(String architecture, String variant, String weightDtypes, String backend,
        String kvCacheDtype, String fingerprint, int nVocab, int nEmbd, int nLayer, int nHead, int nCtxTrain,
        int nRoutedExperts, int nExpertsPerToken, int nSharedExperts, int kvLoraRank, int bosTokenId,
        int eosTokenId, long nParams, long nParamsActive, long weightBytes, long kvBytesPerToken) {

    static ModelInfo of(dev.mola.internal.ModelInfo i) {
        try {
            return new ModelInfo(i.getArchitecture(), i.getVariant(), i.getWeight_dtypes(), i.getBackend(),
                    i.getKv_cache_dtype(), i.getFingerprint(), i.getN_vocab(), i.getN_embd(), i.getN_layer(),
                    i.getN_head(), i.getN_ctx_train(), i.getN_routed_experts(), i.getN_experts_per_token(),
                    i.getN_shared_experts(), i.getKv_lora_rank(), i.getBos_token_id(), i.getEos_token_id(),
                    i.getN_params(), i.getN_params_active(), i.getWeight_bytes(), i.getKv_bytes_per_token());
        } finally {
            i.delete();
        }
    }
}
