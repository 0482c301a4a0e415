// YAML manifests -> typed specs.
