// GenerateOptions.java: when a generation stops and how it samples, with fluent setters;
// the defaults are the C++ facade's (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05).
package dev.mola;

import java.util.List;

public final class GenerateOptions {
    private int maxTokens = 256;
    private List<String> stop = List.of();
    private boolean ignoreEos;
    private double temperature = 0.8;
    private int topK = 40;
    private double topP = 0.95;
    private double minP = 0.05;
    private double repeatPenalty = 1.0;
    private double presencePenalty;
    private double frequencyPenalty;
    private int penaltyWindow = 64;
    private long seed;

    /** 0 = until EOS, a stop string or the end of the context. */
    public GenerateOptions maxTokens(int n) { maxTokens = n; return this; }
    public GenerateOptions stop(String... strings) { stop = List.of(strings); return this; }
    public GenerateOptions ignoreEos(boolean on) { ignoreEos = on; return this; }
    /** <= 0: greedy. */
    public GenerateOptions temperature(double t) { temperature = t; return this; }
    public GenerateOptions greedy() { return temperature(0); }
    public GenerateOptions topK(int k) { topK = k; return this; }
    public GenerateOptions topP(double p) { topP = p; return this; }
    public GenerateOptions minP(double p) { minP = p; return this; }
    public GenerateOptions repeatPenalty(double p) { repeatPenalty = p; return this; }
    public GenerateOptions presencePenalty(double p) { presencePenalty = p; return this; }
    public GenerateOptions frequencyPenalty(double p) { frequencyPenalty = p; return this; }
    public GenerateOptions penaltyWindow(int tokens) { penaltyWindow = tokens; return this; }
    public GenerateOptions seed(long s) { seed = s; return this; }

    dev.mola.internal.SamplerOptions sampler() {
        dev.mola.internal.SamplerOptions s = new dev.mola.internal.SamplerOptions();
        s.setTemperature(temperature);
        s.setTop_k(topK);
        s.setTop_p(topP);
        s.setMin_p(minP);
        s.setRepeat_penalty(repeatPenalty);
        s.setPresence_penalty(presencePenalty);
        s.setFrequency_penalty(frequencyPenalty);
        s.setPenalty_window(penaltyWindow);
        s.setSeed(seed);
        return s;
    }

    dev.mola.internal.GenerateOptions generate() {
        dev.mola.internal.GenerateOptions g = new dev.mola.internal.GenerateOptions();
        g.setMax_tokens(maxTokens);
        g.setIgnore_eos(ignoreEos);
        dev.mola.internal.StringVector v = new dev.mola.internal.StringVector();
        try {
            for (String s : stop) v.add(s);
            g.setStop(v);  // copied into the options
        } finally {
            v.delete();
        }
        return g;
    }
}
