"""The store as a data lake: canonical Parquet out (:mod:`miner.lake.export`), and mining it on Spark (:mod:`miner.lake.spark`)."""
