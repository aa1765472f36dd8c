"""The scheduling framework: extension-point protocols, Status, CycleState, NodeInfo, registry,
profiles and the runtime (upstream pkg/scheduler/framework). Pure logic: no I/O except through
``Handle`` and the Bind point."""
