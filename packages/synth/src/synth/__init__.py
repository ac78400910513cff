"""The data engine: the HPO knowledge base (`knowledge_base`), the questions built from it
(`questions`), the kb teacher (`kb_teacher`), the named generators of params (`generators`, on the
`generation` layer), synthesis, evolution, scoring, the panel, the judge and the sets."""
