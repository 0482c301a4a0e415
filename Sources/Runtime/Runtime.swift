// Runs a GraphIR graph on a batch, handing every intermediate tensor to an optional hook.
