// The graph IR: nodes, edges and attributes independent of any file format.
