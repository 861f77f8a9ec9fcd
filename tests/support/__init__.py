"""What the tests share: graphs, fault injection, the interleaving scheduler, and the fixtures that
start real servers (redis-server, Redis Cluster, moto) on free loopback ports.
"""
