"""Models: torchvision ResNet-50 (2D) and Hara's 3D ResNets, behind one `build_model`."""
