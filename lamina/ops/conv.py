"""Convolution and pooling ops (notes chapter 6). Being written."""
