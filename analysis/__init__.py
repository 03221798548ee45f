"""rmapbench analysis: load run directories into pandas, statistics, plots, reports."""
