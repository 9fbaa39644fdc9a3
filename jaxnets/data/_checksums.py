"""The one table of every data file the loaders read: size, sha256 and where it comes from.

Each entry was copied from the dataset notes that accompany the offline data folder (the sizes
and sha256 sums there were checked against the source repositories' git blobs at the commits
named below). A loader never reads a file that is not in this table, and verifies the size and
the sha256 of every file on every load (see ``_files.require``).

Download URLs are ``https://raw.githubusercontent.com/{repo}/{commit}/{remote_prefix}{rest}``
where the local path is ``{folder}/{rest}``.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Source:
    """A public GitHub repository pinned at one commit, and how its paths map to local ones."""

    repo: str
    commit: str
    remote_prefix: str
    citation: str


# Local top-level folder -> source repository. Commits are pinned: e.g. the MovieLens copy must be
# taken at be0e72c, because the next commit of that repository rescaled the ratings in u1.base.
SOURCES: dict[str, Source] = {
    "planetoid": Source(
        "kimiyoung/planetoid", "af6abf468a772cc055bec88c52e4d6f51b7c37e3", "data/",
        "Yang, Cohen & Salakhutdinov, Revisiting Semi-Supervised Learning with Graph "
        "Embeddings, ICML 2016"),
    "geom-gcn": Source(
        "graphdml-uiuc-jlu/geom-gcn", "f1fc0d14b3b019c562737240d06ec83b07d16a8f", "",
        "Pei et al., Geom-GCN: Geometric Graph Convolutional Networks, ICLR 2020"),
    "heterophilous-graphs": Source(
        "yandex-research/heterophilous-graphs", "a431395582e929d88271309716bea4fe24ce6318",
        "data/",
        "Platonov et al., A critical look at the evaluation of GNNs under heterophily, ICLR 2023"),
    "ml-100k": Source(
        "rohanpassi/recommender-systems-using-deep-learning",
        "be0e72c7dcbbdfbc97921bb13d35a5624cd2a0ea", "ml-100k/",
        "Harper & Konstan, The MovieLens Datasets: History and Context, TiiS 5(4):19, 2015"),
    "acm-heco": Source(
        "liun-online/HeCo", "20e8ca2042838877b2c815279920218b6bbea1db", "data/acm/",
        "Wang, Liu, Han & Shi, Self-supervised Heterogeneous Graph Neural Network with "
        "Co-contrastive Learning, KDD 2021"),
    "collegemsg": Source(
        "theokjulien/SPAHR-Model-Analysis", "6277f448bbdded42470c3d3b85ef583a88ffd76c", "",
        "Panzarasa, Opsahl & Carley, Patterns and dynamics of users' behavior and interaction: "
        "Network analysis of an online community, JASIST 2009 (SNAP CollegeMsg)"),
    "cora-ml": Source(
        "abojchevski/sparse_smoothing", "9add756987972991b50b4f1d87a00cd4e5e2f621", "data/",
        "McCallum et al. 2000 (Cora); Bojchevski & Günnemann, Deep Gaussian Embedding of "
        "Graphs, ICLR 2018 (Cora-ML extract)"),
}

# Files known to exist in a source repository whose sha256 is not on record (they were over the
# size limit of the offline copy). They can be found locally or downloaded, but are loaded with a
# warning that they could not be verified.
UNVERIFIED: frozenset[str] = frozenset({
    "heterophilous-graphs/roman_empire.npz",
    "heterophilous-graphs/amazon_ratings.npz",
    "heterophilous-graphs/questions.npz",
})

# local path -> (size in bytes, sha256)
# fmt: off
FILES: dict[str, tuple[int, str]] = {
    # planetoid/
    "planetoid/ind.citeseer.allx": (595021, "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668"),
    "planetoid/ind.citeseer.ally": (55623, "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95"),
    "planetoid/ind.citeseer.graph": (61987, "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7"),
    "planetoid/ind.citeseer.test.index": (5000, "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4"),
    "planetoid/ind.citeseer.tx": (260321, "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21"),
    "planetoid/ind.citeseer.ty": (24135, "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce"),
    "planetoid/ind.citeseer.x": (31087, "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6"),
    "planetoid/ind.citeseer.y": (3014, "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924"),
    "planetoid/ind.cora.allx": (257305, "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543"),
    "planetoid/ind.cora.ally": (47959, "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71"),
    "planetoid/ind.cora.graph": (59847, "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d"),
    "planetoid/ind.cora.test.index": (5000, "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"),
    "planetoid/ind.cora.tx": (148025, "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a"),
    "planetoid/ind.cora.ty": (28135, "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad"),
    "planetoid/ind.cora.x": (22119, "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab"),
    "planetoid/ind.cora.y": (4054, "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1"),
    # geom-gcn/
    "geom-gcn/new_data/chameleon/out1_graph_edges.txt": (332448, "45ac593de9207470090230c8fd76beeb2f60b5371a9be088e8bf31e7f0619a4b"),
    "geom-gcn/new_data/cornell/out1_graph_edges.txt": (2001, "c4522a00cc40873c8a04a3a07c49e24a48a507eb284ac9c9f2d3e0590351bbb7"),
    "geom-gcn/new_data/cornell/out1_node_feature_label.txt": (624308, "cf5a3ca346cdd1210b8342e22517fcbbdae658065b7a3145f59350e50e6236a3"),
    "geom-gcn/new_data/film/out1_graph_edges.txt": (323820, "997cdce67ea9c29257d3ffe796328391931901cf823830affa453178b60e2c3e"),
    "geom-gcn/new_data/film/out1_node_feature_label.txt": (207718, "1d5cdd094f8b91e770f6decfca85b35cf42f75d1efb51055fd6af16e11820ff8"),
    "geom-gcn/new_data/squirrel/out1_graph_edges.txt": (2115917, "453d8e96754d68e2ab0a7ebb56f93506b59531d95abaec7a2b46fe1eae7c39cd"),
    "geom-gcn/new_data/texas/out1_graph_edges.txt": (2172, "0fe85183243a78cbee9b85a684f8240963d04d1020d10e9cd2b8cfb25e33b476"),
    "geom-gcn/new_data/texas/out1_node_feature_label.txt": (624308, "cf5a3ca346cdd1210b8342e22517fcbbdae658065b7a3145f59350e50e6236a3"),
    "geom-gcn/new_data/wisconsin/out1_graph_edges.txt": (3606, "ebd213511c88fce1eda450c2f920600c4b8cbb38f02384856bcc47c6ec1807ae"),
    "geom-gcn/new_data/wisconsin/out1_node_feature_label.txt": (856324, "a32b0aa38d42f0d36841e8a8cb646d197f0ff33a182ac75a2b4476aeed3c7e4b"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_0.npz": (1775, "36605525b69be4e7df5b31fe6a1d044288c6ebf9f9f0514ca151f6a36afc5e8b"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_1.npz": (1779, "d0779d5a1bedf1967d394468a52c0175fb00595d361fba897faf73322386c952"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_2.npz": (1777, "86ad0d827bf4301dff830598fc0b70d0dd8689c5b4d72dab1d87a6c1970c4c6e"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_3.npz": (1755, "37b3e994adf3afc55e16b617ed05af4e3ce308800755839084d77eced0528e9d"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_4.npz": (1778, "f6b1d067b2b330132839d8b6120077bdc6cf759f7ce421f881a02e2953ec4596"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_5.npz": (1772, "e7661834275c826692510cea0457b18b2c1ee38771f178d06e701b97541a1f6d"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_6.npz": (1774, "16648d1197c1d3a2dec385346212c382030b0d5a8c997f4255aa2afa68a6b174"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_7.npz": (1764, "61adcc53846becefecd466a5364dda23b983d387d1ac5d58c6e24d080c0fcba7"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_8.npz": (1770, "7076ad5341a8218b1f5b6eccf9cfd15d28286ea11ef5c06eeee77af24ff2bf63"),
    "geom-gcn/splits/chameleon_split_0.6_0.2_9.npz": (1773, "743c4f813bf6130398a6511eb9ff07d2366c73bd6c7fddaf226a3f9e2917e0e7"),
    "geom-gcn/splits/cornell_split_0.6_0.2_0.npz": (704, "14022a1e19ec7fc0a07a2c06a785a2f9dc52809dbcd1c14fc318f7800675d73f"),
    "geom-gcn/splits/cornell_split_0.6_0.2_1.npz": (700, "5568fa27e968a724c92211bf97026a36a08893cf94b218043e49b4c973c35cfb"),
    "geom-gcn/splits/cornell_split_0.6_0.2_2.npz": (695, "763fc1f423395e4172617fa5b6bc0d7adad2241e5fedd1a4f0a098a67f9dc8e9"),
    "geom-gcn/splits/cornell_split_0.6_0.2_3.npz": (701, "4334321cd9ec42de9d51107fb9a6dc310512e0921bc1cff0f390301ee37315fa"),
    "geom-gcn/splits/cornell_split_0.6_0.2_4.npz": (759, "2b6b3ef396f4dc7fcdc276fb16b88bb87409b25879dd672b3a506eca844dd8d7"),
    "geom-gcn/splits/cornell_split_0.6_0.2_5.npz": (754, "1a40ef8b20aa9e1aa850e1abdaba3efac1f66c98ef2c6a59eadefa21136ece6b"),
    "geom-gcn/splits/cornell_split_0.6_0.2_6.npz": (758, "bcddf4ab59eae4c7d47b8a6cec9025a54ec0e6d3f3bdcd7678e201f25ace4642"),
    "geom-gcn/splits/cornell_split_0.6_0.2_7.npz": (693, "2b497e12dfc123d7e7c9bb4fc4a82b5bee18409e109a3e3a04da439cacec964d"),
    "geom-gcn/splits/cornell_split_0.6_0.2_8.npz": (701, "5c4e110d252d7ad156b2e4cd34b6dbd1cecbcc1755f8d72e932cc2a54f2b643c"),
    "geom-gcn/splits/cornell_split_0.6_0.2_9.npz": (704, "80f1531807194d301affbf6f879a4ab4f56a19bdccb62d192e3ecd1b5275f052"),
    "geom-gcn/splits/film_split_0.6_0.2_0.npz": (4214, "4505a41d4e90abd94d1ec22571ce528b09ad7cf20d87f764aebd4177590767f5"),
    "geom-gcn/splits/film_split_0.6_0.2_1.npz": (4231, "1871b0d24e3977c41e378fd24acc8025b63f86b77739be77a5b558d1287f207d"),
    "geom-gcn/splits/film_split_0.6_0.2_2.npz": (4224, "d26680e911ef3ecc9fc2a26d90c9d35028c63aadd7a5aea774649d1496c282cb"),
    "geom-gcn/splits/film_split_0.6_0.2_3.npz": (4207, "6755ad5f6a0be8594b344af3d2261eed935b83b73c4d70136e1a7beea7f78cb0"),
    "geom-gcn/splits/film_split_0.6_0.2_4.npz": (4233, "328fdca62b25074f21f2922518e042f24b3b8a1fc378f9dfb2cae36439aed902"),
    "geom-gcn/splits/film_split_0.6_0.2_5.npz": (4224, "5b3161a8dc8de4b2e651ebd56d68e768d1377044895b325566117fe26ab81cb7"),
    "geom-gcn/splits/film_split_0.6_0.2_6.npz": (4221, "e251b38abd4d7931b5e9ae5aba99dcdf87f0be283bdf6e65421274a1c9ef1df6"),
    "geom-gcn/splits/film_split_0.6_0.2_7.npz": (4205, "12164ef9f5620a2f12a387f4f2b8636859d42201101d6d32829ade62d5a98326"),
    "geom-gcn/splits/film_split_0.6_0.2_8.npz": (4217, "405cd1f7f631f678119f8bf2405809e86614d532985beb59566fcf95abd35b3f"),
    "geom-gcn/splits/film_split_0.6_0.2_9.npz": (4208, "505691c5d41bb37b20d085415dcdde2e8e68b5bc4e1feb2c0e361308002012bb"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_0.npz": (3134, "f112b88d3354e86d164d4d915b6a1f695c10f0e01e3e6b9893fc7b09bb93191d"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_1.npz": (3130, "2486c687c8befb55930a6237f76f1d86ce2ba345782eda6157f4e752d05f304f"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_2.npz": (3121, "d62ff83862ad96022d3400dfc9b7ca405834ca62767319d97c36b3f02db978c0"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_3.npz": (3126, "af3d90e0b2718ac7417e10e8b5b382443667412e846cabc3cc4e4a592f4cedae"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_4.npz": (3124, "fbe848298bb72b88db0704050cf216e2a93c916540d577906f3e644b679a6a2c"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_5.npz": (3111, "cd04fab46a181151ddd97ce93c65fe79558fb79ffa230b62f488ebfaf5fdcd75"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_6.npz": (3118, "b9189f7903ca7556a025c54dd5be6c00ec5952d4299e71630bc9876157676412"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_7.npz": (3138, "ea7fb3ca5d5aa45b917b99fb7d64d4e87322b2b5303a0156c547aa3f1a6c8941"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_8.npz": (3132, "b43faa190ca6dd4885a39dfc2a93d59f56f5174f3567bdbc49b18dd9cd9b7fb4"),
    "geom-gcn/splits/squirrel_split_0.6_0.2_9.npz": (3146, "529ade4b86fd191908a96011f25c454653083674b6d4f090b3fdd27af2d14f62"),
    "geom-gcn/splits/texas_split_0.6_0.2_0.npz": (698, "7ba77bf7a8856fcc0ab15623a611b8cdce994e820f577da914123fb4f45272b0"),
    "geom-gcn/splits/texas_split_0.6_0.2_1.npz": (701, "21cc244a96e3c51ad7993afb4dd227f90e467d82b964bb42d7d9fc500a6ef87f"),
    "geom-gcn/splits/texas_split_0.6_0.2_2.npz": (756, "b9e96a699ccf3a4c31ffbd03e52b25570889833425d20fa44e06c37b327cf61e"),
    "geom-gcn/splits/texas_split_0.6_0.2_3.npz": (759, "1a7deeb1285009789d5e6045d7e39f7d019c9223d9a75a2b7ce5e26d33b51f63"),
    "geom-gcn/splits/texas_split_0.6_0.2_4.npz": (702, "b5419ff3fe31adcae66fdb085d4f47d0b188e9436ab59f438632af969aafc674"),
    "geom-gcn/splits/texas_split_0.6_0.2_5.npz": (691, "68405fd1b9ff6105d99717220ecbd198785e338bf4a73abee722bbc9703d2667"),
    "geom-gcn/splits/texas_split_0.6_0.2_6.npz": (756, "8ad78b973164e70e5ac0d282e79adcbc6006e373909fbdfd72a13131e09040b8"),
    "geom-gcn/splits/texas_split_0.6_0.2_7.npz": (693, "a84bcbf997365bddf5fdf72ed49dc7e435e475f8c6210f8cdee7c8581a2bd6df"),
    "geom-gcn/splits/texas_split_0.6_0.2_8.npz": (762, "65ba65f296f91d40d2d7d3c9369b67415094a7e254c6eee48cd6d6531c586fdf"),
    "geom-gcn/splits/texas_split_0.6_0.2_9.npz": (693, "4306981d654ad8835c000c1f73fb6c1e60dfe99e26c13a6073f3b0f4cc3ce6ee"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_0.npz": (805, "f66f641e191d35d491cd3b63d6c2cd93c4b436da398984b44c19a8d4d7e7b1a5"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_1.npz": (739, "534aeb97266bd5a85a8587adf8eebad3f2e001c1240610f24b62c0ad0c2466ee"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_2.npz": (747, "047a5b641778ec3a4c76055fd7f18ecb2424c0952f20dfff7e1b17749d8acbdd"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_3.npz": (810, "706c27b4c51d046c0316f1e915f093e4a1fff48b3436b3e7c421eab596a99e77"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_4.npz": (812, "7ee813605eec086457aaff022cf3837f2f893fcf8bd37e3a8d2ff0c80e4c4f87"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_5.npz": (749, "8094ac2bdaf2cbea8f7a48df66a0800c809b2fd5942740e6b0441b660d3a0dd5"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_6.npz": (735, "c423a8deea9b18f9ecb6cfd703578e2159df167de01fe7e6195b88995010252d"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_7.npz": (733, "57ad808c8d4dd94dc4404124370bbcebb3dcc597c2bea6457bf05f220adf1527"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_8.npz": (741, "27d4d62a2a6aea2cdc399302237512ab0d64fb0c84e648112f97c5896274e42f"),
    "geom-gcn/splits/wisconsin_split_0.6_0.2_9.npz": (744, "3c149cd124a19021031609e0d7743a7be59aae4f88c8d38410138e8f06f5daaf"),
    # heterophilous-graphs/
    "heterophilous-graphs/actor.npz": (252956, "c350eef06b2c2a9bf8218be2b57cac6d4003d0922eb597a039e9123f75817816"),
    "heterophilous-graphs/chameleon.npz": (177840, "4c640bd2877fc4f9f101531e2f977bc16445a54e09a5cb01178df608e552f3fd"),
    "heterophilous-graphs/chameleon_directed.npz": (191520, "34aea6b6888063544232100d53d4aa7e87e37953ec8dd3a7092afb25bb2f0328"),
    "heterophilous-graphs/chameleon_filtered.npz": (58924, "bf46f07e1fb5249280447e5fe3100f3e82fc4b93ad1e13ffcfdec924b6ac0bb5"),
    "heterophilous-graphs/chameleon_filtered_directed.npz": (69275, "5a2d40701407188f1661d37a326484b49cc15251e0dedaa7bd380873dac80f21"),
    "heterophilous-graphs/cornell.npz": (30515, "684c54ba3daa13b0ba1f04a3d6dd1b1175c1ae9bdeb982851fd4ff96d3aac298"),
    "heterophilous-graphs/minesweeper.npz": (135045, "e664c8dacf1e8ac466c2c09ed4b237bd2c5541f47a6eae9c6092cb87f16412b3"),
    "heterophilous-graphs/squirrel.npz": (704277, "d436e3b42c0546b105241c0ab0766097074e68e55f67b133eeb9b0162e55cbd9"),
    "heterophilous-graphs/squirrel_directed.npz": (760119, "3f0436486716cf77b651c372e54f6b4c2cc52262e7faeeab584a34b41bae2616"),
    "heterophilous-graphs/squirrel_filtered.npz": (208215, "f06370ffb3116c5de8b7a600005400b2293c025e0ce2f6916d8201a825505ac7"),
    "heterophilous-graphs/squirrel_filtered_directed.npz": (249855, "0526e53252f0b052124f7390829c32e923d432acaf64206191a1144a07b39620"),
    "heterophilous-graphs/texas.npz": (28586, "b164b99e6c3d43e4ab07488ec59bd8c815f90cbc1bd4cf425ce587d2b534d844"),
    "heterophilous-graphs/texas_4_classes.npz": (28586, "2da438ba7f41fd82e0953e2c9f63ef18e5a58da51ae6369cb5f5010bdf0e67bd"),
    "heterophilous-graphs/tolokers.npz": (1329769, "dacf3ac94cec53d03cd2adb5255c08b33dee1656c33ca8164a464bd9450a1667"),
    "heterophilous-graphs/wisconsin.npz": (41672, "2543c89838cfc75f737f7c4664cc1d097f8268602c20b2d1bd4f21407df9c074"),
    # ml-100k/
    "ml-100k/README": (6744, "0be24b7f62d9c14ed654236a7d48c3cdf7cd1e78b70a580bd0212e1b69136a34"),
    "ml-100k/u.data": (1979173, "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
    "ml-100k/u.genre": (202, "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb"),
    "ml-100k/u.info": (36, "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b"),
    "ml-100k/u.item": (236344, "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
    "ml-100k/u.occupation": (192, "94176a530a47df7fe1208410894caf4805dd6b902b1148fb65fb7592b2cc79b2"),
    "ml-100k/u.user": (22628, "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
    "ml-100k/u1.base": (1586544, "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a"),
    "ml-100k/u1.test": (392629, "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950"),
    "ml-100k/u2.base": (1583948, "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e"),
    "ml-100k/u2.test": (395225, "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3"),
    "ml-100k/u3.base": (1582546, "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d"),
    "ml-100k/u3.test": (396627, "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d"),
    "ml-100k/u4.base": (1581878, "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca"),
    "ml-100k/u4.test": (397295, "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9"),
    "ml-100k/u5.base": (1581776, "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485"),
    "ml-100k/u5.test": (397397, "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634"),
    # acm-heco/
    "acm-heco/a_feat.npz": (1961252, "e2f2ac8d357310149fc7badbf32ea0b171dec25aad6c37ec45de592666c65555"),
    "acm-heco/labels.npy": (32280, "019284b3e6a58fc8ebd432fb99aaaf183ad41dbf56b8ca7af0b56dca9dd844b5"),
    "acm-heco/nei_a.npy": (323916, "1b60e195f2d3a7ead0b591f4ca1b25c5e048390decb37362a828780c4d761c05"),
    "acm-heco/nei_s.npy": (32280, "c0c4b7fe18b569384e47a582e0656bd17eb8994a0835d51bac121bfb98a2663d"),
    "acm-heco/p_feat.npz": (495879, "9e1019dfceaaabb19ee5b5f09de3147ffbaa818b43c3fc3f92bdfaf4ed5f02f4"),
    "acm-heco/pa.txt": (128122, "e67385fc13c3b3b624d81de7eb6e4245d9aeafa063c5466c6fab0f151bcb84d6"),
    "acm-heco/pap.npz": (64585, "3f25894497558f74356448f1a504c946efef9f23e7beb74d38bc9ecf95a4dbb6"),
    "acm-heco/pos.npz": (37470, "d683afe2d8cad6b5d99724f027a03bf82a078ecf8835e8e9cb58a7962127e642"),
    "acm-heco/ps.txt": (30181, "3da7615ef5567c5f7f1ab9ec770c4b4b8b6a54790baa1cda3d4499329dfc22d5"),
    "acm-heco/psp.npz": (423908, "cd25669b884825155487308c7d4adb42d99edbc843215438219ad551f86c8f3e"),
    "acm-heco/test_20.npy": (8128, "eb90e38c882009c6439d749d160d39ed64f8813e9f672c02be54993914934afa"),
    "acm-heco/test_40.npy": (8128, "f73d7e23459dd654a7567ee8bf123849f400096f8fac558dc37033d3fdc11aa6"),
    "acm-heco/test_60.npy": (8128, "5181ccdeacc54b88ed53681ba9f2c789cc6d67a499f40a68ac6827a96932b976"),
    "acm-heco/train_20.npy": (608, "6bf4c1cef638f3ffe1826091b9be7fbff23a4935dfbde03c24b492d264d67684"),
    "acm-heco/train_40.npy": (1088, "98239282e69e9775a9b13bc54598cc780eca31dcaeb81963efbbd4c6c3e51435"),
    "acm-heco/train_60.npy": (1568, "5b86f56415b84d1faa8c8f864cd37272589ec4ffff1b0ca347d4c39ee38dcc02"),
    "acm-heco/val_20.npy": (8128, "4280dccb661a50196502a39973a462919399fcfcd97b1d43581dfa9ca02d1b5d"),
    "acm-heco/val_40.npy": (8128, "19fb1e72b76bc24da95423d1a83583a42fe5b62d69b2b197312f630ff5096202"),
    "acm-heco/val_60.npy": (8128, "e234b6c1e19445ed6cc3694a273b943bbded8e847a9d0246f18d59f76fb8cd5d"),
    # collegemsg/
    "collegemsg/CollegeMsg.txt": (1150460, "ada7a13d18196d1c33a7fadecefa969a6c12be99d9ac38f92edef94560ec7314"),
    # cora-ml/
    "cora-ml/cora_ml.npz": (1622498, "46b98cabc9c22c09de0d30140fbf68d004b21d2f05e234feb96ba6e84ec7c86a"),
}
# fmt: on
