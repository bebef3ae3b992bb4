/** The parts of autocannon 9 (no bundled types) the benchmarks use. */
declare module 'autocannon' {
  namespace autocannon {
    interface Histogram { average: number; mean: number; p50: number; p90: number; p99: number; max: number; min: number }
    interface Result { requests: Histogram; latency: Histogram; throughput: Histogram; non2xx: number; errors: number; timeouts: number; duration: number }
    interface Options { url: string; method?: string; connections?: number; duration?: number; amount?: number; pipelining?: number; headers?: Record<string, string>; body?: string }
  }
  function autocannon(opts: autocannon.Options): Promise<autocannon.Result>;
  export default autocannon;
}
