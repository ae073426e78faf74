"""Training: the trainer loop (`train`) and the run folder it writes (`runs`)."""
