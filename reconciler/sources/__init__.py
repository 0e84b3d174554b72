"""Adapters at the edge: tenant files, Microsoft Graph, LDIF/csvde exports, LDAP."""
