"""The store as a data lake: canonical Parquet out (:mod:`chainmine.miner.lake.export`), and mining it on Spark (:mod:`chainmine.miner.lake.spark`)."""
