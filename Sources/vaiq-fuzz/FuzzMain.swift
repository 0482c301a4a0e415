// Without libFuzzer (a plain build): replays inputs through a target, for CI and for turning a
// crash into a regression test. Built by `make fuzz-build` (-DVAIQ_LIBFUZZER) there is no main of
// ours: libFuzzer's drives `LLVMFuzzerTestOneInput`.
#if !VAIQ_LIBFUZZER
@main
enum FuzzMain {
    static func main() { FuzzReplay.main() }
}
#endif
