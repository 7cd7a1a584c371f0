"""Retail Rocket data: the TFDS builder, its synthetic twin and the tf.data pipeline."""
