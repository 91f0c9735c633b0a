"""The cluster: profiles, Slurm sessions, the Open OnDemand app's site file, install, the shared model store."""
