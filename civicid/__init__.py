"""The ``civicid`` command: the composition root that mounts each role's click group.

It is the only module that knows every role; the roles never import each other.
"""
