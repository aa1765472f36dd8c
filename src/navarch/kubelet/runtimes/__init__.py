"""Container runtimes behind one CRI-shaped interface (``interface.py``).

``simulated`` runs nothing (simulated nodes); ``process`` (host processes) and ``cri`` (containerd
over gRPC) implement the same protocols, so the kubelet core never knows which one it drives.
"""
