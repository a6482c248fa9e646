"""Audiences: who a campaign can reach — topics, segments and imported recipients."""
